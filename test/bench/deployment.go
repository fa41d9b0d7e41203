package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/yaml"

	"github.com/pullguard/pullguard/test/harness"
)

// fromDeployment is the value of -gomemlimit, -gogc and -memory-limit that takes the setting
// from the shipped Deployment (deploy/base/deployment.yaml), so the bench measures what ships.
const fromDeployment = "deployment"

var (
	goMemLimit  = flag.String("gomemlimit", fromDeployment, `GOMEMLIMIT of pullguard and the floor: "deployment" (the Deployment's env), a value, or "" (inherited)`)
	goGC        = flag.String("gogc", fromDeployment, `GOGC of pullguard and the floor: "deployment" (the Deployment's env), a value, or "" (inherited)`)
	memoryLimit = flag.String("memory-limit", "", `run pullguard in a memory cgroup with this limit ("deployment": the Deployment's limit, 256Mi) and report what the kernel charged and whether it OOM-killed; empty: no cgroup`)
)

// deploymentSettings reads the pullguard container's Go runtime settings (GOMEMLIMIT,
// GOGC) and memory limit from the kustomize base.
func deploymentSettings() (env map[string]string, memoryLimit string, err error) {
	path := filepath.Join(harness.Root, "deploy", "base", "deployment.yaml")
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, "", err
	}
	var d appsv1.Deployment
	if err := yaml.Unmarshal(raw, &d); err != nil {
		return nil, "", fmt.Errorf("%s: %w", path, err)
	}
	for _, c := range d.Spec.Template.Spec.Containers {
		if c.Name != "webhook" {
			continue
		}
		env = map[string]string{}
		for _, e := range c.Env {
			env[e.Name] = e.Value
		}
		if q, ok := c.Resources.Limits["memory"]; ok {
			memoryLimit = q.String()
		}
		return env, memoryLimit, nil
	}
	return nil, "", fmt.Errorf("%s: no container named webhook", path)
}

// resolveDeploymentFlags replaces "deployment" in -gomemlimit, -gogc and -memory-limit by
// the Deployment's values.
func resolveDeploymentFlags() error {
	if *goMemLimit != fromDeployment && *goGC != fromDeployment && *memoryLimit != fromDeployment {
		return nil
	}
	env, limit, err := deploymentSettings()
	if err != nil {
		return err
	}
	if *goMemLimit == fromDeployment {
		*goMemLimit = env["GOMEMLIMIT"]
	}
	if *goGC == fromDeployment {
		*goGC = env["GOGC"]
	}
	if *memoryLimit == fromDeployment {
		*memoryLimit = limit
	}
	return nil
}

// runtimeEnv is the Go runtime environment both webhooks run with: the floor gets the same
// collector settings as pullguard, so the comparison is of the work, not of the tuning.
func runtimeEnv() []string {
	var env []string
	if *goMemLimit != "" {
		env = append(env, "GOMEMLIMIT="+*goMemLimit)
	}
	if *goGC != "" {
		env = append(env, "GOGC="+*goGC)
	}
	return env
}
