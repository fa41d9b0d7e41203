package check

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/pullguard/pullguard/pkg/registryauth"
)

// TestInternalRegistryOffline: offline, the cross-project rule is decided with the
// RoleBindings of the input, and said not to be checked when the input has none.
func TestInternalRegistryOffline(t *testing.T) {
	const base = `apiVersion: v1
kind: ServiceAccount
metadata: {name: default, namespace: team-a}
imagePullSecrets: [{name: default-dockercfg-x7k2p}]
---
apiVersion: v1
kind: Secret
metadata:
  name: default-dockercfg-x7k2p
  namespace: team-a
  annotations: {openshift.io/internal-registry-auth-token.service-account: default}
type: kubernetes.io/dockercfg
stringData:
  .dockercfg: '{"image-registry.openshift-image-registry.svc:5000":{"username":"serviceaccount","password":"not-a-real-password-x"}}'
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: team-a}
spec:
  containers:
  - {name: app, image: image-registry.openshift-image-registry.svc:5000/team-b/app:1}
`
	binding := func(subject string) string {
		return "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: pull, namespace: team-b}\n" +
			"roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: system:image-puller}\nsubjects:\n- " + subject + "\n"
	}
	tests := []struct {
		name     string
		input    string
		internal string
		code     int
		outcome  string
		text     string // a fragment of the object's messages or warnings
	}{
		{"no RoleBindings in the input: not checked offline", base, "image-registry.openshift-image-registry.svc:5000", ExitOK, "covered", "was not checked offline (the input holds no RoleBindings of project \"team-b\")"},
		{"bound in the input: covered", base + binding("{kind: ServiceAccount, name: default, namespace: team-a}"), "image-registry.openshift-image-registry.svc:5000", ExitOK, "covered", ""},
		{"the input binds another account: rejected with the fix", base + binding("{kind: ServiceAccount, name: builder, namespace: team-a}"), "image-registry.openshift-image-registry.svc:5000", ExitDenied, "rejected",
			"'oc policy add-role-to-user system:image-puller system:serviceaccount:team-a:default --namespace=team-b'"},
		{"without --internal-registries the rule is not applied", base + binding("{kind: ServiceAccount, name: builder, namespace: team-a}"), "", ExitOK, "covered", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			internal, err := registryauth.ParsePatterns(tt.internal)
			if err != nil {
				t.Fatal(err)
			}
			var stdout, stderr bytes.Buffer
			o := Options{Files: []string{"-"}, Output: "json", InternalRegistries: internal, Kubeconfig: "/nonexistent"}
			code := Run(context.Background(), o, strings.NewReader(tt.input), &stdout, &stderr)
			if code != tt.code {
				t.Errorf("exit code %d, want %d\n%s%s", code, tt.code, stdout.String(), stderr.String())
			}
			var r report
			if err := json.Unmarshal(stdout.Bytes(), &r); err != nil || len(r.Objects) != 1 || len(r.Objects[0].Images) != 1 {
				t.Fatalf("report %s: %v", stdout.String(), err)
			}
			obj := r.Objects[0]
			if got := string(obj.Images[0].Outcome); got != tt.outcome {
				t.Errorf("outcome %s, want %s: %s", got, tt.outcome, obj.Images[0].Message)
			}
			all := obj.Images[0].Message + "\n" + strings.Join(obj.Warnings, "\n")
			if !strings.Contains(all, tt.text) {
				t.Errorf("%q not in:\n%s", tt.text, all)
			}
			if strings.Contains(stdout.String()+stderr.String(), "not-a-real-password-x") {
				t.Error("the report shows the credential")
			}
		})
	}
}
