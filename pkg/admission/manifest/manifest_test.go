package manifest

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/pullguard/pullguard/pkg/admission/openshift"
)

func write(t *testing.T, dir, name, body string) {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestReadDirectory(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "b.yaml", "---\n---\nkind: Pod\napiVersion: v1\nmetadata: {name: second}\n")
	write(t, dir, "a/one.yml", "kind: ServiceAccount\napiVersion: v1\nmetadata: {name: first}\n")
	write(t, dir, "notes.txt", "not a manifest")
	write(t, dir, "c.json", `{"kind":"BuildConfig","apiVersion":"v1","metadata":{"name":"third"},"spec":{"strategy":{}}}`)
	objs, err := Read([]string{dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, o := range objs {
		kinds = append(kinds, o.Kind)
	}
	if got := strings.Join(kinds, ","); got != "ServiceAccount,Pod,BuildConfig" {
		t.Fatalf("kinds = %s", got)
	}
	if objs[1].Document != 1 || !strings.HasSuffix(objs[1].Where(), "b.yaml: document 1") {
		t.Errorf("empty documents must not count: %s", objs[1].Where())
	}
	if _, ok := objs[2].Value.(*openshift.BuildConfig); !ok {
		t.Errorf("legacy apiVersion v1 BuildConfig decoded as %T", objs[2].Value)
	}
}

func TestStringDataMerged(t *testing.T) {
	objs, err := Decode("s.yaml", strings.NewReader(`
kind: Secret
apiVersion: v1
metadata: {name: pull}
type: kubernetes.io/dockerconfigjson
data: {.dockerconfigjson: e30=, other: eA==}
stringData: {.dockerconfigjson: '{"auths":{}}'}
`))
	if err != nil {
		t.Fatal(err)
	}
	s := objs[0].Value.(*corev1.Secret)
	if string(s.Data[".dockerconfigjson"]) != `{"auths":{}}` || string(s.Data["other"]) != "x" {
		t.Fatalf("data = %q", s.Data)
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name, body, want string
	}{
		{"not an object", "kind: Pod\n---\n- a\n- b\n", "s.yaml: document 2: not an object"},
		{"list item without kind", `{"kind":"List","items":[{"kind":"Pod","apiVersion":"v1"},{"metadata":{}}]}`, `s.yaml: document 1, item 1: no "kind"`},
		{"bad base64 in a secret", "kind: Secret\napiVersion: v1\ndata: {a: '!!'}\n", "s.yaml: document 1: Secret: illegal base64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode("s.yaml", strings.NewReader(tt.body))
			var merr *Error
			if !errors.As(err, &merr) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
	if _, err := Read([]string{t.TempDir()}, nil); err == nil || !strings.Contains(err.Error(), "no .yaml") {
		t.Fatalf("empty directory: %v", err)
	}
}
