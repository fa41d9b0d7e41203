package decision

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/pullguard/pullguard/pkg/admission/openshift"
	"github.com/pullguard/pullguard/pkg/registryauth"
)

const testPassword = "test-password-not-real"

// ns is a namespace secret for tests: a name and either registry keys or raw data.
type ns struct {
	name string
	keys []string
	typ  string // default dockerconfigjson
	raw  string // raw data instead of keys
	// password distinguishes credentials (and so probes); default testPassword.
	password string
}

func (s ns) parse() *registryauth.PullSecret {
	typ, key := registryauth.TypeDockerConfigJSON, registryauth.KeyDockerConfigJSON
	if s.typ == registryauth.TypeDockercfg {
		typ, key = registryauth.TypeDockercfg, registryauth.KeyDockercfg
	}
	data := []byte(s.raw)
	if s.raw == "" {
		password := testPassword
		if s.password != "" {
			password = s.password
		}
		auths := map[string]map[string]string{}
		for _, k := range s.keys {
			auths[k] = map[string]string{"auth": base64.StdEncoding.EncodeToString([]byte("u:" + password))}
		}
		var v any = map[string]any{"auths": auths}
		if typ == registryauth.TypeDockercfg {
			v = auths
		}
		data, _ = json.Marshal(v)
	}
	return registryauth.ParseSecret(s.name, typ, map[string][]byte{key: data})
}

func index(secrets []ns) *registryauth.SecretIndex {
	parsed := make([]*registryauth.PullSecret, len(secrets))
	for i, s := range secrets {
		parsed[i] = s.parse()
	}
	return registryauth.NewSecretIndex(parsed)
}

// serviceAccounts decodes multi-document YAML of ServiceAccounts.
func serviceAccounts(t *testing.T, docs string) ServiceAccountMap {
	t.Helper()
	m := ServiceAccountMap{}
	for _, doc := range strings.Split(docs, "\n---\n") {
		if strings.TrimSpace(doc) == "" {
			continue
		}
		sa := &corev1.ServiceAccount{}
		if err := yaml.UnmarshalStrict([]byte(doc), sa); err != nil {
			t.Fatalf("service account: %v", err)
		}
		m[sa.Name] = sa
	}
	return m
}

// object decodes a YAML object of a kind the core handles; a document without apiVersion
// is looked up by kind alone.
func object(t *testing.T, doc string) any {
	t.Helper()
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal([]byte(doc), &tm); err != nil {
		t.Fatal(err)
	}
	var obj any
	for _, group := range []string{tm.GroupVersionKind().Group, "", "apps", "batch", openshift.BuildGroup, openshift.AppsGroup} {
		if obj = NewObject(group, tm.Kind); obj != nil {
			break
		}
	}
	if obj == nil {
		t.Fatalf("unknown kind %q", tm.Kind)
	}
	if err := yaml.UnmarshalStrict([]byte(doc), obj); err != nil {
		t.Fatalf("%s: %v", tm.Kind, err)
	}
	return obj
}

// summary renders a decision as "outcome:secret" per image.
func summary(d *Decision) []string {
	out := make([]string, len(d.Images))
	for i, img := range d.Images {
		out[i] = string(img.Outcome)
		if img.Secret != "" {
			out[i] += ":" + img.Secret
		}
	}
	return out
}

// patchJSON renders a patch for comparison. A pod's patch ends with the op recording the
// injected secrets in InjectedAnnotation: patchJSON checks that it names the last secrets
// the patch adds, and leaves it out of the result.
func patchJSON(t *testing.T, ops []PatchOp) string {
	t.Helper()
	if len(ops) == 0 {
		return ""
	}
	ops = checkInjectedAnnotation(t, ops)
	b, err := json.Marshal(ops)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func messages(d *Decision) string {
	var lines []string
	for _, img := range d.Images {
		lines = append(lines, fmt.Sprintf("[%s] %s", img.Outcome, img.Message))
	}
	return strings.Join(lines, "\n")
}

// checkInjectedAnnotation checks and removes the annotation op of a pod's patch.
func checkInjectedAnnotation(t *testing.T, ops []PatchOp) []PatchOp {
	t.Helper()
	var added []string
	for _, op := range ops {
		switch v := op.Value.(type) {
		case corev1.LocalObjectReference:
			added = append(added, v.Name)
		case []corev1.LocalObjectReference:
			for _, ref := range v {
				added = append(added, ref.Name)
			}
		}
	}
	if len(added) == 0 || !strings.HasPrefix(ops[0].Path, "/spec/imagePullSecrets") {
		return ops // not a pod's injection
	}
	last := ops[len(ops)-1]
	var value string
	switch last.Path {
	case "/metadata/annotations":
		value = last.Value.(map[string]string)[InjectedAnnotation]
	case "/metadata/annotations/pullguard.io~1injected":
		value = last.Value.(string)
	default:
		return ops // left out by the caller; TestInjectedAnnotation checks it is there
	}
	names := strings.Split(value, ",")
	if value == "" || len(names) > len(added) || !slices.Equal(names, added[len(added)-len(names):]) {
		t.Errorf("annotation %s=%q does not name the injected secrets, the last of %q", InjectedAnnotation, value, added)
	}
	return ops[:len(ops)-1]
}
