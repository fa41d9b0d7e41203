package deploy

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/pullguard/pullguard/test/harness"
)

var chartDir = filepath.Join(harness.Root, "deploy", "helm", "pullguard")

// objects are rendered manifests, decoded generically, by "Kind/namespace/name".
type objects map[string]map[string]any

func decodeObjects(t *testing.T, docs []string) objects {
	t.Helper()
	out := objects{}
	for _, doc := range docs {
		dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(doc), 4096)
		for {
			var obj map[string]any
			if err := dec.Decode(&obj); err != nil {
				if err.Error() == "EOF" {
					break
				}
				t.Fatalf("%v in:\n%s", err, doc)
			}
			if obj == nil {
				continue
			}
			// Through JSON, so numbers and nesting are typed alike from both renderers.
			raw, _ := json.Marshal(obj)
			obj = nil
			if err := json.Unmarshal(raw, &obj); err != nil {
				t.Fatal(err)
			}
			meta, _ := obj["metadata"].(map[string]any)
			key := fmt.Sprintf("%v/%v/%v", obj["kind"], meta["namespace"], meta["name"])
			if _, dup := out[key]; dup {
				t.Fatalf("%s rendered twice", key)
			}
			out[key] = obj
		}
	}
	return out
}

// kustomizeObjects renders a kustomization with the pinned kubectl.
func kustomizeObjects(t *testing.T, dir string) objects {
	t.Helper()
	r := render(t, dir)
	var docs []string
	for _, kind := range r.docs {
		for _, raw := range kind {
			docs = append(docs, string(raw))
		}
	}
	return decodeObjects(t, docs)
}

// helmObjects renders the chart as `helm template pullguard deploy/helm/pullguard -n
// pullguard --set ...` would: helm's own loader and template engine, as a library.
func helmObjects(t *testing.T, values map[string]any) objects {
	t.Helper()
	ch, err := loader.Load(chartDir)
	if err != nil {
		t.Fatal(err)
	}
	vals, err := chartutil.ToRenderValues(ch, values, chartutil.ReleaseOptions{Name: "pullguard", Namespace: "pullguard", IsInstall: true, Revision: 1}, chartutil.DefaultCapabilities)
	if err != nil {
		t.Fatal(err)
	}
	files, err := engine.Render(ch, vals)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for name := range files {
		if strings.HasSuffix(name, ".yaml") {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	var docs []string
	for _, name := range names {
		if strings.TrimSpace(files[name]) != "" {
			docs = append(docs, files[name])
		}
	}
	return decodeObjects(t, docs)
}

// normalize checks and drops what differs by design between the renderers: who manages the
// objects (kustomize, Helm) and helm's chart label.
func normalize(t *testing.T, objs objects, managedBy string) {
	t.Helper()
	for key, obj := range objs {
		labelSets := []map[string]any{nested(obj, "metadata", "labels")}
		if tmpl := nested(obj, "spec", "template", "metadata", "labels"); tmpl != nil {
			labelSets = append(labelSets, tmpl)
		}
		for _, labels := range labelSets {
			if labels["app.kubernetes.io/managed-by"] != managedBy {
				t.Errorf("%s: app.kubernetes.io/managed-by=%v, want %s", key, labels["app.kubernetes.io/managed-by"], managedBy)
			}
			delete(labels, "app.kubernetes.io/managed-by")
			delete(labels, "helm.sh/chart")
		}
	}
}

func nested(obj map[string]any, path ...string) map[string]any {
	for _, p := range path {
		next, ok := obj[p].(map[string]any)
		if !ok {
			return nil
		}
		obj = next
	}
	return obj
}

// differences lists the paths where a and b differ.
func differences(path string, a, b any) []string {
	switch av := a.(type) {
	case map[string]any:
		bv, ok := b.(map[string]any)
		if !ok {
			break
		}
		var out []string
		keys := map[string]bool{}
		for k := range av {
			keys[k] = true
		}
		for k := range bv {
			keys[k] = true
		}
		for _, k := range slices.Sorted(func(yield func(string) bool) {
			for k := range keys {
				if !yield(k) {
					return
				}
			}
		}) {
			out = append(out, differences(path+"."+k, av[k], bv[k])...)
		}
		return out
	case []any:
		bv, ok := b.([]any)
		if !ok || len(av) != len(bv) {
			break
		}
		var out []string
		for i := range av {
			out = append(out, differences(fmt.Sprintf("%s[%d]", path, i), av[i], bv[i])...)
		}
		return out
	}
	if reflect.DeepEqual(a, b) {
		return nil
	}
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return []string{fmt.Sprintf("%s: kustomize %s, helm %s", path, ja, jb)}
}

// TestHelmChartRendersTheKustomizeObjects renders the Helm chart and the kustomize
// manifests it stands for, and requires the same objects, field for field.
func TestHelmChartRendersTheKustomizeObjects(t *testing.T) {
	failClosed := t.TempDir()
	rel := func(p string) string {
		r, err := filepath.Rel(failClosed, p)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	k := "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- " + rel(filepath.Join(harness.Root, "deploy", "base")) +
		"\ncomponents:\n- " + rel(filepath.Join(harness.Root, "deploy", "components", "fail-closed")) + "\n"
	if err := os.WriteFile(filepath.Join(failClosed, "kustomization.yaml"), []byte(k), 0o600); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name      string
		kustomize string
		values    map[string]any
	}{
		{"base", filepath.Join(harness.Root, "deploy", "base"), map[string]any{"createNamespace": true}},
		{"cert-manager: the kubernetes overlay", overlay("kubernetes"), map[string]any{"createNamespace": true, "certManager": map[string]any{"enabled": true}}},
		{"failClosed: the fail-closed component", failClosed, map[string]any{"createNamespace": true, "failClosed": true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want := kustomizeObjects(t, tc.kustomize)
			got := helmObjects(t, tc.values)
			normalize(t, want, "kustomize")
			normalize(t, got, "Helm")
			for _, key := range slices.Sorted(func(yield func(string) bool) {
				for k := range want {
					if !yield(k) {
						return
					}
				}
			}) {
				obj, ok := got[key]
				if !ok {
					t.Errorf("the chart does not render %s", key)
					continue
				}
				for _, d := range differences(key, want[key], obj) {
					t.Error(d)
				}
			}
			for key := range got {
				if _, ok := want[key]; !ok {
					t.Errorf("the chart renders %s, which kustomize does not", key)
				}
			}
		})
	}
}

// TestHelmValuesAreFlags renders the chart with flags set as values and checks the
// container's arguments.
func TestHelmValuesAreFlags(t *testing.T) {
	got := helmObjects(t, map[string]any{
		"defaultMode":                   "warn",
		"nodeCredentials":               []any{"openshift-config/pull-secret"},
		"privateRegistries":             []any{"registry.redhat.io", "*.example.com"},
		"verify":                        false,
		"verifyTimeout":                 "5s",
		"verifyMaxProbes":               8,
		"imageCredentialProviderConfig": "/etc/kubernetes/credential-providers.yaml",
		"clientCAFile":                  "/etc/pullguard/client-ca/ca.crt",
		"drainDelay":                    "15s",
		"runtime":                       "crio",
		"registriesConf":                "/etc/pullguard/mirrors/registries.conf",
		"image":                         map[string]any{"digest": "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"},
	})
	dep := got["Deployment/pullguard/pullguard"]
	c := nested(dep, "spec", "template", "spec")["containers"].([]any)[0].(map[string]any)
	var args []string
	for _, a := range c["args"].([]any) {
		args = append(args, a.(string))
	}
	for _, want := range []string{"--default-mode=warn", "--node-credentials=openshift-config/pull-secret", "--private-registries=registry.redhat.io,*.example.com",
		"--verify=false", "--verify-timeout=5s", "--verify-max-probes=8", "--image-credential-provider-config=/etc/kubernetes/credential-providers.yaml",
		"--client-ca-file=/etc/pullguard/client-ca/ca.crt", "--drain-delay=15s", "--runtime=crio", "--registries-conf=/etc/pullguard/mirrors/registries.conf"} {
		if !slices.Contains(args, want) {
			t.Errorf("args %q lack %s", args, want)
		}
	}
	if data := got["ConfigMap/pullguard/pullguard-config"]["data"].(map[string]any); data["runtime"] != "crio" {
		t.Errorf("pullguard-config runtime %v: check --cluster reads the runtime serve uses", data["runtime"])
	}
	containerd := helmObjects(t, map[string]any{"containerdHostsDir": "/etc/containerd/certs.d"})
	c2 := nested(containerd["Deployment/pullguard/pullguard"], "spec", "template", "spec")["containers"].([]any)[0].(map[string]any)
	if !slices.Contains(c2["args"].([]any), any("--containerd-hosts-dir=/etc/containerd/certs.d")) {
		t.Errorf("args %v lack --containerd-hosts-dir", c2["args"])
	}
	if c["image"] != "ghcr.io/pullguard/pullguard@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" {
		t.Errorf("image %v: a digest wins over the tag", c["image"])
	}
}

// TestReleaseIsPinnedAndLabelled: every object of every overlay carries the recommended
// labels of one release, whose version is the image's tag and the chart's appVersion.
func TestReleaseIsPinnedAndLabelled(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(chartDir, "Chart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var chart struct{ Version, AppVersion string }
	if err := yaml.Unmarshal(raw, &chart); err != nil {
		t.Fatal(err)
	}
	if "v"+chart.Version != chart.AppVersion {
		t.Errorf("chart version %s and appVersion %s name different releases", chart.Version, chart.AppVersion)
	}
	for _, name := range []string{"openshift", "kubernetes"} {
		t.Run(name, func(t *testing.T) {
			objs := kustomizeObjects(t, overlay(name))
			for key, obj := range objs {
				labels := nested(obj, "metadata", "labels")
				want := map[string]any{
					"app.kubernetes.io/name": "pullguard", "app.kubernetes.io/instance": "pullguard", "app.kubernetes.io/version": chart.AppVersion,
					"app.kubernetes.io/component": "admission-webhook", "app.kubernetes.io/part-of": "pullguard", "app.kubernetes.io/managed-by": "kustomize",
				}
				for k, v := range want {
					if labels[k] != v {
						t.Errorf("%s: label %s=%v, want %v", key, k, labels[k], v)
					}
				}
			}
			dep := objs["Deployment/pullguard/pullguard"]
			spec := nested(dep, "spec")
			if image := nested(spec, "template", "spec")["containers"].([]any)[0].(map[string]any)["image"]; image != "ghcr.io/pullguard/pullguard:"+chart.AppVersion {
				t.Errorf("image %v, want the release's tag %s", image, chart.AppVersion)
			}
			if sel := nested(spec, "selector", "matchLabels"); len(sel) != 1 || sel["app.kubernetes.io/name"] != "pullguard" {
				t.Errorf("selector %v: a Deployment's selector cannot change, so it names the app alone", sel)
			}
			if tmpl := nested(spec, "template", "metadata", "labels"); tmpl["app.kubernetes.io/version"] != chart.AppVersion {
				t.Errorf("pod template labels %v lack the version", tmpl)
			}
		})
	}
}
