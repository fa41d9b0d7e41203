package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/pullguard/pullguard/pkg/admission/check"
	"github.com/pullguard/pullguard/pkg/registryauth"
)

// runCheck runs `webhook check --cluster` against the test cluster.
func runCheck(t *testing.T, stdin string, args check.Options) (int, map[string]any, string) {
	t.Helper()
	args.Cluster, args.Kubeconfig, args.Output, args.Files = true, cluster.Kubeconfig, "json", []string{"-"}
	var err error
	if args.PrivateRegistries, err = registryauth.ParsePatterns(privateRegistries); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	code := check.Run(context.Background(), args, strings.NewReader(stdin), &stdout, &stderr)
	var doc map[string]any
	if code != check.ExitUsage {
		if err := json.Unmarshal(stdout.Bytes(), &doc); err != nil {
			t.Fatalf("not JSON: %v\n%s", err, stdout.String())
		}
	}
	if strings.Contains(stdout.String()+stderr.String(), testPassword) {
		t.Fatal("check printed a credential")
	}
	return code, doc, stderr.String()
}

// outcomes lists "outcome:secret" of every image of every object.
func outcomes(doc map[string]any) []string {
	var out []string
	for _, o := range doc["objects"].([]any) {
		for _, img := range o.(map[string]any)["images"].([]any) {
			m := img.(map[string]any)
			out = append(out, fmt.Sprintf("%s:%s", m["outcome"], m["secret"]))
		}
	}
	return out
}

func TestCheckAgainstTheCluster(t *testing.T) {
	ns := namespace(t, "audit", nil, "sa-ghcr")
	pullSecret(t, ns, "acme", "registry.private.test")
	pullSecret(t, ns, "sa-ghcr", "ghcr.private.test")
	manifest := podYAML(ns, "web", nil,
		"app=registry.private.test/acme/app:1", "side=ghcr.private.test/acme/side:1", "db=quay.private.test/acme/db:1")

	code, doc, stderr := runCheck(t, manifest, check.Options{})
	if code != check.ExitDenied {
		t.Fatalf("exit %d, want %d: %s", code, check.ExitDenied, stderr)
	}
	if got, want := strings.Join(outcomes(doc), " "), "injected:acme covered:sa-ghcr missing:"; got != want {
		t.Errorf("outcomes %q, want %q", got, want)
	}

	// A secret in the manifest counts as if it were applied with it.
	withSecret := manifest + "---\napiVersion: v1\nkind: Secret\nmetadata: {name: quay, namespace: audit}\ntype: kubernetes.io/dockerconfigjson\nstringData:\n  .dockerconfigjson: '{\"auths\":{\"quay.private.test\":{\"username\":\"ci-bot\",\"password\":\"" + testPassword + "\"}}}'\n"
	code, doc, stderr = runCheck(t, withSecret, check.Options{})
	if code != check.ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if got := strings.Join(outcomes(doc), " "); got != "injected:acme covered:sa-ghcr injected:quay" {
		t.Errorf("outcomes %q", got)
	}

	// Auditing what is already there: the live pods, as kubectl prints them.
	kubectl(t, podYAML(ns, "live", nil, "app=registry.private.test/acme/app:1"), false, "apply", "-f", "-")
	live, _ := kubectl(t, "", false, "get", "pods", "-n", ns, "-o", "yaml")
	code, doc, stderr = runCheck(t, live, check.Options{})
	if code != check.ExitOK {
		t.Fatalf("audit exit %d: %s", code, stderr)
	}
	if got := strings.Join(outcomes(doc), " "); got != "covered:acme" {
		t.Errorf("audit outcomes %q", got)
	}
}

// TestCheckClusterNodeCredentials: `check --cluster --node-credentials NS/NAME` reads the
// nodes' pull secret from the cluster, as serve does, and gives serve's answers.
func TestCheckClusterNodeCredentials(t *testing.T) {
	global := namespace(t, "global-config", nil)
	pullSecret(t, global, "pull-secret", "node.private.test")
	ns := namespace(t, "audit-node", nil)
	manifest := podYAML(ns, "web", nil, "app=node.private.test/acme/app:1")

	code, doc, stderr := runCheck(t, manifest, check.Options{NodeCredentialSecrets: []string{global + "/pull-secret"}})
	if code != check.ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if got, want := strings.Join(outcomes(doc), " "), "node:node:"+global+"/pull-secret"; got != want {
		t.Errorf("outcomes %q, want %q", got, want)
	}
	// Without it, the same pod would be denied.
	if code, _, _ = runCheck(t, manifest, check.Options{}); code != check.ExitDenied {
		t.Errorf("without --node-credentials: exit %d, want %d", code, check.ExitDenied)
	}
	if code, _, stderr = runCheck(t, manifest, check.Options{NodeCredentialSecrets: []string{global + "/absent"}}); code != check.ExitUsage || !strings.Contains(stderr, "absent") {
		t.Errorf("a node secret that does not exist: exit %d, %q", code, stderr)
	}
}
