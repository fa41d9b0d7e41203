package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/check/golden")

// TestMain keeps the tests from the machine's kubeconfig: offline, the default namespace is
// "default" unless a test names a kubeconfig.
func TestMain(m *testing.M) {
	os.Setenv("KUBECONFIG", filepath.Join(os.TempDir(), "pullguard-test-no-kubeconfig"))
	os.Unsetenv("KUBERNETES_SERVICE_HOST")
	os.Exit(m.Run())
}

// The fixtures' only credential: obviously fake, and never to appear in any output.
var fixtureSecrets = []string{"not-a-real-password", "Y2ktYm90Om5vdC1hLXJlYWwtcGFzc3dvcmQ"}

// goldenCase is one command line and what it must print, in testdata/DIR/golden/NAME.txt.
type goldenCase struct {
	name  string
	args  []string
	stdin string
	exit  int
	// prog is the program's name (default "webhook"): kubectl-pullguard is the plugin.
	prog string
}

// runGolden runs each case and compares exit code, stdout and stderr with its golden file.
// Regenerate with: go test ./cmd/webhook -update (and review the diff).
func runGolden(t *testing.T, dir string, tests []goldenCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prog := tt.prog
			if prog == "" {
				prog = "webhook"
			}
			var stdout, stderr bytes.Buffer
			code := runAs(context.Background(), prog, tt.args, strings.NewReader(tt.stdin), &stdout, &stderr)
			if code != tt.exit {
				t.Errorf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.exit, stdout.String(), stderr.String())
			}
			got := fmt.Sprintf("exit code: %d\n--- stdout ---\n%s--- stderr ---\n%s", code, stdout.String(), stderr.String())
			for _, s := range fixtureSecrets {
				if strings.Contains(got, s) {
					t.Fatalf("output shows the fixture credential %q", s)
				}
			}
			if strings.HasSuffix(tt.name, "json") {
				var v struct {
					Objects []map[string]json.RawMessage `json:"objects"`
				}
				if err := json.Unmarshal(stdout.Bytes(), &v); err != nil {
					t.Fatalf("stdout is not JSON: %v", err)
				}
			}
			golden := filepath.Join("testdata", dir, "golden", tt.name+".txt")
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

func checkArgs(args ...string) []string { return append([]string{"check"}, args...) }

// TestCheckGolden runs `webhook check` over the fixtures and compares exit code, stdout and
// stderr with golden files. Regenerate with: go test ./cmd/webhook -run TestCheckGolden -update
func TestCheckGolden(t *testing.T) {
	const kubeconfig = "testdata/check/kubeconfig.yaml"
	runGolden(t, "check", []goldenCase{
		{name: "team-a-text", args: checkArgs("-f", "testdata/check/team-a.yaml", "--private-registries", "registry.redhat.io,ghcr.io"), exit: 1},
		{name: "team-a-json", args: checkArgs("-f", "testdata/check/team-a.yaml", "--private-registries", "registry.redhat.io,ghcr.io", "-o", "json"), exit: 1},
		{name: "modes", args: checkArgs("-f", "testdata/check/modes.yaml", "--private-registries=registry.redhat.io"), exit: 1},
		{name: "modes-json", args: checkArgs("-f", "testdata/check/modes.yaml", "--private-registries=registry.redhat.io", "-ojson"), exit: 1},
		{name: "modes-yaml", args: checkArgs("-f", "testdata/check/modes.yaml", "--private-registries=registry.redhat.io", "--output=yaml"), exit: 1},
		// Nothing listens on 127.0.0.1:1 (loopback allowed here): every probe is refused a
		// connection, so every image is indeterminate and the failure policy decides.
		{name: "failure-policy", args: checkArgs("-f", "testdata/check/failure-policy.yaml", "--verify", "--verify-deny-networks="), exit: 1},
		{name: "failure-policy-json", args: checkArgs("-f", "testdata/check/failure-policy.yaml", "--verify", "--verify-deny-networks=", "--output", "json"), exit: 1},
		{name: "list-and-json-stream", args: checkArgs("-f", "testdata/check/list.json", "-n", "ci", "--private-registries", "registry.redhat.io"), exit: 1},
		{name: "node-credentials-json", args: checkArgs("-f", "testdata/check/list.json", "--node-credentials-file", "testdata/check/node-config.json", "--private-registries", "registry.redhat.io", "-o", "json")},
		{name: "node-and-providers", args: checkArgs("-f", "testdata/check/node-and-providers.yaml", "--node-credentials", "openshift-config/pull-secret", "--image-credential-provider-config", "testdata/check/credential-providers.yaml", "--private-registries", "*.dkr.ecr.*.amazonaws.com,ghcr.io")},
		{name: "node-and-providers-json", args: checkArgs("-f", "testdata/check/node-and-providers.yaml", "--node-credentials", "openshift-config/pull-secret", "--image-credential-provider-config", "testdata/check/credential-providers.yaml", "-o", "json")},
		{name: "node-credentials-not-found", args: checkArgs("-f", "testdata/check/team-a.yaml", "--node-credentials", "openshift-config/pull-secret"), exit: 2},
		{name: "stdin", args: checkArgs("-f", "-"), stdin: "kind: Pod\napiVersion: v1\nmetadata: {name: s}\nspec: {containers: [{name: a, image: quay.io/x/y}]}\n"},
		// Offline, an image no secret matches and no flag calls private is not verified: the
		// report says so rather than that the kubelet pulls it anonymously.
		{name: "no-private-registries-not-verified", args: checkArgs("-f", "testdata/check/team-a.yaml")},
		// The CI gate: a Deployment whose pods would be denied fails the check.
		{name: "pods-denied", args: checkArgs("-f", "testdata/check/pods-denied.yaml", "--private-registries", "registry.redhat.io,ghcr.io"), exit: 1},
		{name: "pods-denied-json", args: checkArgs("-f", "testdata/check/pods-denied.yaml", "--private-registries", "registry.redhat.io,ghcr.io", "-o", "json"), exit: 1},
		{name: "pods-denied-default-mode-warn", args: checkArgs("-f", "testdata/check/pods-denied.yaml", "--private-registries", "registry.redhat.io,ghcr.io", "--default-mode", "warn")},
		{name: "warnings-pass", args: checkArgs("-f", "testdata/check/warn-only.yaml", "--private-registries", "registry.redhat.io")},
		{name: "warnings-fail-on-warn", args: checkArgs("-f", "testdata/check/warn-only.yaml", "--private-registries", "registry.redhat.io", "--fail-on=warn"), exit: 1},
		// kubectl's input rules: a directory is read without its subdirectories unless -R.
		{name: "dir", args: checkArgs("-f", "testdata/check/tree", "--private-registries", "registry.redhat.io")},
		{name: "dir-recursive", args: checkArgs("-f", "testdata/check/tree", "-R", "--private-registries", "registry.redhat.io"), exit: 1},
		{name: "kustomize", args: checkArgs("-k", "testdata/check/kustomize", "-f", "testdata/check/team-a.yaml")},
		// Objects that name no namespace are in -n, else the kubeconfig context's namespace.
		{name: "context-namespace", args: checkArgs("-f", "testdata/check/tree/top.yaml", "--kubeconfig", kubeconfig)},
		{name: "context-flag-namespace", args: checkArgs("-f", "testdata/check/tree/top.yaml", "--kubeconfig", kubeconfig, "--context", "other")},
		{name: "namespace-flag-wins", args: checkArgs("-f", "testdata/check/tree/top.yaml", "--kubeconfig", kubeconfig, "-n", "team-n")},
		{name: "bad-yaml", args: checkArgs("-f", "testdata/check/bad-yaml.yaml"), exit: 2},
		{name: "bad-object", args: checkArgs("-f", "testdata/check/bad-object.yaml"), exit: 2},
		{name: "no-kind", args: checkArgs("-f", "testdata/check/no-kind.yaml"), exit: 2},
		{name: "missing-file", args: checkArgs("-f", "testdata/check/nonexistent.yaml"), exit: 2},
		{name: "no-input", args: checkArgs(), exit: 2},
		{name: "bad-output", args: checkArgs("-f", "-", "-o", "xml"), exit: 2},
		{name: "bad-fail-on", args: checkArgs("-f", "-", "--fail-on", "error"), exit: 2},
		{name: "bad-default-mode", args: checkArgs("-f", "-", "--default-mode", "enforcing"), exit: 2},
		{name: "bad-pattern", args: checkArgs("-f", "-", "--private-registries", "https://[::1"), exit: 2},
		{name: "unknown-flag", args: checkArgs("-f", "-", "--privat-registries", "x"), exit: 2},
		{name: "single-dash-long-flag", args: checkArgs("-f", "-", "-private-registries", "x"), exit: 2},
		// Mirror sets in the input: containerd does not follow them, and says so.
		{name: "mirror-sets-containerd", args: checkArgs("-f", "testdata/check/mirror-sets.yaml", "--private-registries", "registry.redhat.io"), exit: 1},
		// CRI-O follows them: the pull goes to the mirror (the source is blocked), matching
		// only, then with the mirror known to be private.
		{name: "mirror-sets-crio", args: checkArgs("-f", "testdata/check/mirror-sets.yaml", "--runtime=crio"), exit: 0},
		{name: "mirror-sets-crio-private", args: checkArgs("-f", "testdata/check/mirror-sets.yaml", "--runtime=crio", "--private-registries", "mirror.corp.example.com:5000"), exit: 1},
		{name: "runtime-bad", args: checkArgs("-f", "-", "--runtime", "docker"), exit: 2},
		{name: "registries-conf-needs-crio", args: checkArgs("-f", "-", "--registries-conf", "testdata/check/registries.conf"), exit: 2},
		{name: "containerd-hosts-dir-not-crio", args: checkArgs("-f", "-", "--runtime=crio", "--containerd-hosts-dir", "testdata/check"), exit: 2},
		{name: "registries-conf-bad-line", args: checkArgs("-f", "testdata/check/mirror-sets.yaml", "--runtime=crio", "--registries-conf", "testdata/check/bad-registries.conf"), exit: 2},
		// TYPE/NAME is read from the cluster: with none configured, say so plainly.
		{name: "resource-without-cluster", args: checkArgs("pod/web", "-n", "team-a"), exit: 2},
	})
}

// TestCheckJSONShape pins the JSON document of SPEC section 2: the keys of objects and images;
// objects of mode=off namespaces are listed too, with "skipped": true.
func TestCheckJSONShape(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"check", "-f", "testdata/check/team-a.yaml", "-f", "testdata/check/modes.yaml", "-o", "json", "--private-registries", "registry.redhat.io,ghcr.io"}, nil, &stdout, &stderr)
	if code != 1 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(stdout.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	assertKeys(t, doc, "apiVersion", "kind", "objects")
	if string(doc["apiVersion"]) != `"pullguard.io/v1alpha1"` || string(doc["kind"]) != `"CheckReport"` {
		t.Errorf("apiVersion %s, kind %s", doc["apiVersion"], doc["kind"])
	}
	var objects []map[string]json.RawMessage
	if err := json.Unmarshal(doc["objects"], &objects); err != nil || len(objects) == 0 {
		t.Fatalf("objects: %v: %s", err, doc["objects"])
	}
	skipped := 0
	verdicts := map[string]bool{}
	for _, obj := range objects {
		var v string
		if err := json.Unmarshal(obj["verdict"], &v); err != nil {
			t.Fatal(err)
		}
		verdicts[v] = true
		var src map[string]json.RawMessage
		if err := json.Unmarshal(obj["source"], &src); err != nil || len(src["file"]) == 0 || len(src["document"]) == 0 {
			t.Errorf("source %s: want file and document", obj["source"])
		}
		if _, ok := obj["skipped"]; ok {
			skipped++
			if string(obj["skipped"]) != "true" || string(obj["namespace"]) != `"team-off"` {
				t.Errorf("skipped object: %s %s, want the pod of team-off, skipped: true", obj["namespace"], obj["skipped"])
			}
			assertKeys(t, obj, "kind", "namespace", "name", "verdict", "source", "warnings", "images", "patch", "skipped")
			continue
		}
		assertKeys(t, obj, "kind", "namespace", "name", "verdict", "source", "warnings", "images", "patch")
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
	for _, v := range []string{"admitted", "patched", "warned", "denied", "pods-denied", "skipped"} {
		if !verdicts[v] {
			t.Errorf("no object has verdict %q (the fixtures hold one of each): %v", v, verdicts)
		}
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

// TestCheckURL: -f takes a URL, as kubectl does; the report names it as the source.
func TestCheckURL(t *testing.T) {
	manifest, err := os.ReadFile("testdata/check/pods-denied.yaml")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(manifest) }))
	defer srv.Close()
	url := srv.URL + "/pods-denied.yaml"
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"check", "-f", url, "--private-registries", "registry.redhat.io,ghcr.io", "-o", "json"}, nil, &stdout, &stderr)
	if code != 1 {
		t.Fatalf("exit %d, want 1 (pods of Deployment team-e/web denied): %s", code, stderr.String())
	}
	var doc struct {
		Objects []struct {
			Verdict string `json:"verdict"`
			Source  struct {
				File     string `json:"file"`
				Document int    `json:"document"`
			} `json:"source"`
		} `json:"objects"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Objects) != 2 || doc.Objects[0].Verdict != "pods-denied" || doc.Objects[0].Source.File != url || doc.Objects[0].Source.Document != 3 {
		t.Errorf("objects %+v, want the pods-denied Deployment from %s, document 3", doc.Objects, url)
	}
}
