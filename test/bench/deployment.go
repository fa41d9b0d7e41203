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

// fromDeployment is the value of -gomemlimit and -memory-limit that takes the setting from
// the shipped Deployment (deploy/base/deployment.yaml), so the bench measures what ships.
const fromDeployment = "deployment"

var (
	goMemLimit  = flag.String("gomemlimit", fromDeployment, `GOMEMLIMIT of the pullguard process: "deployment" (the Deployment's env), a value, or "" (inherited)`)
	memoryLimit = flag.String("memory-limit", "", `run pullguard in a memory cgroup with this limit ("deployment": the Deployment's limit, 256Mi) and report what the kernel charged and whether it OOM-killed; empty: no cgroup`)
)

// deploymentSettings reads the pullguard container's GOMEMLIMIT and memory limit from the
// kustomize base.
func deploymentSettings() (goMemLimit, memoryLimit string, err error) {
	path := filepath.Join(harness.Root, "deploy", "base", "deployment.yaml")
	raw, err := os.ReadFile(path)
	if err != nil {
		return "", "", err
	}
	var d appsv1.Deployment
	if err := yaml.Unmarshal(raw, &d); err != nil {
		return "", "", fmt.Errorf("%s: %w", path, err)
	}
	for _, c := range d.Spec.Template.Spec.Containers {
		if c.Name != "webhook" {
			continue
		}
		for _, e := range c.Env {
			if e.Name == "GOMEMLIMIT" {
				goMemLimit = e.Value
			}
		}
		if q, ok := c.Resources.Limits["memory"]; ok {
			memoryLimit = q.String()
		}
		return goMemLimit, memoryLimit, nil
	}
	return "", "", fmt.Errorf("%s: no container named webhook", path)
}

// resolveDeploymentFlags replaces "deployment" in -gomemlimit and -memory-limit by the
// Deployment's values.
func resolveDeploymentFlags() error {
	if *goMemLimit != fromDeployment && *memoryLimit != fromDeployment {
		return nil
	}
	gml, limit, err := deploymentSettings()
	if err != nil {
		return err
	}
	if *goMemLimit == fromDeployment {
		*goMemLimit = gml
	}
	if *memoryLimit == fromDeployment {
		*memoryLimit = limit
	}
	return nil
}
