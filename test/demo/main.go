// Command demo shows pullguard's main job end to end on a local kube-apiserver: it starts
// the API server and etcd, runs the webhook and registers it, applies the sample manifests
// of test/demo/manifests with kubectl (an injection, a denial, a warning), prints what
// happened, and stops everything. With DEMO_KEEP=1 it keeps running and prints how to reach
// the cluster. Run it with `make demo`.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/pullguard/pullguard/pkg/admission/decision"
	"github.com/pullguard/pullguard/pkg/admission/server"
	"github.com/pullguard/pullguard/pkg/registryauth"
	"github.com/pullguard/pullguard/test/harness"
)

// The registries the demo treats as private (a cluster sets --private-registries, or lets
// --verify ask the registry).
const privateRegistries = "registry.redhat.io,quay.io"

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	step("Starting a local kube-apiserver and etcd")
	cluster, err := harness.StartCluster()
	if err != nil {
		return err
	}
	defer cluster.Stop()

	step("Starting pullguard and registering it (--private-registries=" + privateRegistries + ")")
	private, err := registryauth.ParsePatterns(privateRegistries)
	if err != nil {
		return err
	}
	webhook, err := cluster.StartWebhook(ctx, server.Options{
		Defaults:          decision.Policy{Mode: decision.Enforce, FailurePolicy: decision.FailOpen},
		PrivateRegistries: private,
		ExcludeNamespaces: server.DefaultExclude,
		Log:               slog.New(slog.NewTextHandler(io.Discard, nil)),
	}, io.Discard)
	if err != nil {
		return err
	}
	defer webhook.Stop()

	dir := filepath.Join(harness.Root, "test", "demo", "manifests")
	kubectl := func(args ...string) error {
		fmt.Printf("\n$ kubectl %s\n", strings.Join(args, " "))
		stdout, stderr, err := cluster.Kubectl(ctx, "", args...)
		fmt.Print(indent(stdout), indent(stderr))
		return err
	}
	manifest := func(name string) string { return relative(filepath.Join(dir, name)) }

	step("1. A namespace with a pull secret for quay.io/acme")
	if err := kubectl("apply", "-f", manifest("00-team-a.yaml")); err != nil {
		return err
	}

	step("2. A pod that forgot its imagePullSecrets: pullguard injects the matching one")
	if err := kubectl("apply", "-f", manifest("01-pod-injected.yaml")); err != nil {
		return err
	}
	if err := kubectl("get", "pod", "web", "-n", "team-a", "-o", "jsonpath={.spec.imagePullSecrets}{\"\\n\"}"); err != nil {
		return err
	}

	step("3. A pod from registry.redhat.io with no credential anywhere: denied, with the fix")
	if err := kubectl("apply", "-f", manifest("02-pod-denied.yaml")); err == nil {
		return fmt.Errorf("the pod from registry.redhat.io was admitted")
	}

	step("4. A deployment with the same problem: admitted, with a warning at apply time")
	if err := kubectl("apply", "-f", manifest("03-deployment-warned.yaml")); err != nil {
		return err
	}

	step("5. The same decisions offline, for CI: webhook check")
	fmt.Printf("\n$ webhook check -f %s --private-registries %s\n", relative(dir), privateRegistries)
	if err := checkOffline(dir); err != nil {
		return err
	}

	if os.Getenv("DEMO_KEEP") == "1" {
		step("Keeping everything running (DEMO_KEEP=1); Ctrl-C stops it")
		fmt.Printf("\n  export KUBECONFIG=%s\n  kubectl get pods -n team-a\n", cluster.Kubeconfig)
		<-ctx.Done()
	}
	step("Stopping pullguard, kube-apiserver and etcd")
	return nil
}

// relative shortens a path for the commands the demo prints.
func relative(path string) string {
	if wd, err := os.Getwd(); err == nil {
		if rel, err := filepath.Rel(wd, path); err == nil && !strings.HasPrefix(rel, "..") {
			return rel
		}
	}
	return path
}

func step(s string) { fmt.Printf("\n== %s\n", s) }

func indent(s string) string {
	if s == "" {
		return ""
	}
	return "  " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n  ") + "\n"
}
