package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/check/golden")

// The fixtures' only credential: obviously fake, and never to appear in any output.
var fixtureSecrets = []string{"not-a-real-password", "Y2ktYm90Om5vdC1hLXJlYWwtcGFzc3dvcmQ"}

// TestCheckGolden runs `webhook check` over the fixtures and compares exit code, stdout and
// stderr with golden files. Regenerate with: go test ./cmd/webhook -run TestCheckGolden -update
func TestCheckGolden(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		stdin string
		exit  int
	}{
		{"team-a-text", []string{"-f", "testdata/check/team-a.yaml", "--private-registries", "registry.redhat.io,ghcr.io"}, "", 1},
		{"team-a-json", []string{"-f", "testdata/check/team-a.yaml", "--private-registries", "registry.redhat.io,ghcr.io", "-o", "json"}, "", 1},
		{"modes", []string{"-f", "testdata/check/modes.yaml", "--private-registries=registry.redhat.io"}, "", 1},
		{"modes-json", []string{"-f", "testdata/check/modes.yaml", "--private-registries=registry.redhat.io", "-o", "json"}, "", 1},
		// Nothing listens on 127.0.0.1:1 (loopback allowed here): every probe is refused a
		// connection, so every image is indeterminate and the failure policy decides.
		{"failure-policy", []string{"-f", "testdata/check/failure-policy.yaml", "--verify", "--verify-deny-networks="}, "", 1},
		{"failure-policy-json", []string{"-f", "testdata/check/failure-policy.yaml", "--verify", "--verify-deny-networks=", "-o", "json"}, "", 1},
		{"list-and-json-stream", []string{"-f", "testdata/check/list.json", "-n", "ci", "--private-registries", "registry.redhat.io"}, "", 1},
		{"node-credentials", []string{"-f", "testdata/check/list.json", "--node-credentials-file", "testdata/check/node-config.json", "--private-registries", "registry.redhat.io", "-o", "json"}, "", 0},
		{"node-and-providers", []string{"-f", "testdata/check/node-and-providers.yaml", "--node-credentials", "openshift-config/pull-secret", "--image-credential-provider-config", "testdata/check/credential-providers.yaml", "--private-registries", "*.dkr.ecr.*.amazonaws.com,ghcr.io"}, "", 0},
		{"node-and-providers-json", []string{"-f", "testdata/check/node-and-providers.yaml", "--node-credentials", "openshift-config/pull-secret", "--image-credential-provider-config", "testdata/check/credential-providers.yaml", "-o", "json"}, "", 0},
		{"node-credentials-not-found", []string{"-f", "testdata/check/team-a.yaml", "--node-credentials", "openshift-config/pull-secret"}, "", 2},
		{"stdin", []string{"-f", "-"}, "kind: Pod\napiVersion: v1\nmetadata: {name: s}\nspec: {containers: [{name: a, image: quay.io/x/y}]}\n", 0},
		{"no-private-registries-all-anonymous", []string{"-f", "testdata/check/team-a.yaml"}, "", 0},
		{"bad-yaml", []string{"-f", "testdata/check/bad-yaml.yaml"}, "", 2},
		{"bad-object", []string{"-f", "testdata/check/bad-object.yaml"}, "", 2},
		{"no-kind", []string{"-f", "testdata/check/no-kind.yaml"}, "", 2},
		{"missing-file", []string{"-f", "testdata/check/nonexistent.yaml"}, "", 2},
		{"no-input", []string{}, "", 2},
		{"bad-output", []string{"-f", "-", "-o", "yaml"}, "", 2},
		{"bad-pattern", []string{"-f", "-", "--private-registries", "https://[::1"}, "", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), append([]string{"check"}, tt.args...), strings.NewReader(tt.stdin), &stdout, &stderr)
			if code != tt.exit {
				t.Errorf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.exit, stdout.String(), stderr.String())
			}
			got := fmt.Sprintf("exit code: %d\n--- stdout ---\n%s--- stderr ---\n%s", code, stdout.String(), stderr.String())
			for _, s := range fixtureSecrets {
				if strings.Contains(got, s) {
					t.Fatalf("output shows the fixture credential %q", s)
				}
			}
			if strings.HasSuffix(tt.name, "json") || strings.Contains(strings.Join(tt.args, " "), "-o json") {
				var v struct {
					Objects []map[string]json.RawMessage `json:"objects"`
				}
				if err := json.Unmarshal(stdout.Bytes(), &v); err != nil {
					t.Fatalf("stdout is not JSON: %v", err)
				}
			}
			golden := filepath.Join("testdata", "check", "golden", tt.name+".txt")
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("output differs from %s (run with -update to accept):\n--- got ---\n%s\n--- want ---\n%s", golden, got, want)
			}
		})
	}
}

// TestCheckJSONShape pins the JSON document of SPEC section 2: the keys of objects and images;
// objects of mode=off namespaces are listed too, with "skipped": true.
func TestCheckJSONShape(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"check", "-f", "testdata/check/team-a.yaml", "-f", "testdata/check/modes.yaml", "-o", "json", "--private-registries", "registry.redhat.io"}, nil, &stdout, &stderr)
	if code != 1 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	var doc map[string][]map[string]json.RawMessage
	if err := json.Unmarshal(stdout.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc) != 1 || len(doc["objects"]) == 0 {
		t.Fatalf("want one key, objects: %s", stdout.String())
	}
	skipped := 0
	for _, obj := range doc["objects"] {
		if _, ok := obj["skipped"]; ok {
			skipped++
			if string(obj["skipped"]) != "true" || string(obj["namespace"]) != `"team-off"` {
				t.Errorf("skipped object: %s %s, want the pod of team-off, skipped: true", obj["namespace"], obj["skipped"])
			}
			assertKeys(t, obj, "kind", "namespace", "name", "images", "patch", "skipped")
			continue
		}
		assertKeys(t, obj, "kind", "namespace", "name", "images", "patch")
		var images []map[string]json.RawMessage
		if err := json.Unmarshal(obj["images"], &images); err != nil {
			t.Fatal(err)
		}
		for _, img := range images {
			assertKeys(t, img, "container", "image", "registry", "repository", "outcome", "secret", "candidates", "message")
		}
	}
	if skipped != 1 {
		t.Errorf("%d objects skipped, want the one of the mode=off namespace", skipped)
	}
}

func assertKeys(t *testing.T, m map[string]json.RawMessage, keys ...string) {
	t.Helper()
	if len(m) != len(keys) {
		t.Errorf("got keys %v, want exactly %v", mapKeys(m), keys)
	}
	for _, k := range keys {
		if _, ok := m[k]; !ok {
			t.Errorf("missing key %q in %v", k, mapKeys(m))
		}
	}
}

func mapKeys(m map[string]json.RawMessage) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestVersion(t *testing.T) {
	var stdout bytes.Buffer
	if code := run(context.Background(), []string{"version"}, nil, &stdout, &stdout); code != 0 || strings.TrimSpace(stdout.String()) != version {
		t.Fatalf("version: exit %d, %q", code, stdout.String())
	}
	if code := run(context.Background(), []string{"frobnicate"}, nil, &stdout, &stdout); code != 2 {
		t.Fatalf("unknown command: exit %d", code)
	}
}
