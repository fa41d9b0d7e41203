package access

import (
	"context"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"

	"github.com/pullguard/pullguard/pkg/admission/decision"
)

func TestOffline(t *testing.T) {
	puller := "kind: RoleBinding\nmetadata: {name: pull, namespace: team-b}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: system:image-puller}\nsubjects:\n"
	push := decision.AccessQuestion{Namespace: "team-a", ServiceAccount: "builder", Project: "team-b", Verb: "update"}
	tests := []struct {
		name    string
		objects string // RBAC objects, multi-document YAML
		q       decision.AccessQuestion
		want    decision.AccessStatus
		reason  string
	}{
		{"no RBAC objects: not checked", "", pull, decision.AccessNotChecked, `the input holds no RoleBindings of project "team-b"`},
		{"bindings of other projects only: not checked", strings.Replace(puller, "team-b", "team-c", 1) + "- {kind: ServiceAccount, name: default, namespace: team-a}\n", pull, decision.AccessNotChecked, "no RoleBindings"},
		{"the service account bound to image-puller", puller + "- {kind: ServiceAccount, name: default, namespace: team-a}\n", pull, decision.AccessAllowed, ""},
		{"its user name bound", puller + "- {kind: User, apiGroup: rbac.authorization.k8s.io, name: 'system:serviceaccount:team-a:default'}\n", pull, decision.AccessAllowed, ""},
		{"every service account of its namespace bound", puller + "- {kind: Group, apiGroup: rbac.authorization.k8s.io, name: 'system:serviceaccounts:team-a'}\n", pull, decision.AccessAllowed, ""},
		{"another account bound: refused", puller + "- {kind: ServiceAccount, name: builder, namespace: team-a}\n", pull, decision.AccessRefused, `no RoleBinding of project "team-b" in the input allows it`},
		{"a binding without the subject's namespace is the binding's", puller + "- {kind: ServiceAccount, name: default}\n", pull, decision.AccessRefused, ""},
		{"image-puller does not grant a push", puller + "- {kind: ServiceAccount, name: builder, namespace: team-a}\n", push, decision.AccessRefused, ""},
		{"image-builder grants a push", strings.Replace(puller, "system:image-puller", "system:image-builder", 1) + "- {kind: ServiceAccount, name: builder, namespace: team-a}\n", push, decision.AccessAllowed, ""},
		{"the project's own accounts by OpenShift's default binding", puller + "- {kind: ServiceAccount, name: x, namespace: team-a}\n",
			decision.AccessQuestion{Namespace: "team-b", ServiceAccount: "default", Project: "team-b", Verb: "get"}, decision.AccessAllowed, ""},
		{"a role of the input", "kind: Role\nmetadata: {name: layers, namespace: team-b}\nrules:\n- {apiGroups: [image.openshift.io], resources: [imagestreams/layers], verbs: [get]}\n---\n" +
			"kind: RoleBinding\nmetadata: {name: l, namespace: team-b}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: layers}\nsubjects:\n- {kind: ServiceAccount, name: default, namespace: team-a}\n", pull, decision.AccessAllowed, ""},
		{"a resource without the subresource does not grant it", "kind: Role\nmetadata: {name: streams, namespace: team-b}\nrules:\n- {apiGroups: [image.openshift.io], resources: [imagestreams], verbs: ['*']}\n---\n" +
			"kind: RoleBinding\nmetadata: {name: l, namespace: team-b}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: streams}\nsubjects:\n- {kind: ServiceAccount, name: default, namespace: team-a}\n", pull, decision.AccessRefused, ""},
		{"a role not in the input: not checked", strings.Replace(puller, "system:image-puller", "custom", 1) + "- {kind: ServiceAccount, name: default, namespace: team-a}\n", pull, decision.AccessNotChecked, `role "custom" is not in the input`},
		{"a cluster role binding for every service account", "kind: ClusterRoleBinding\nmetadata: {name: all}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: system:image-puller}\nsubjects:\n- {kind: Group, apiGroup: rbac.authorization.k8s.io, name: system:serviceaccounts}\n", pull, decision.AccessAllowed, ""},
		{"an aggregated cluster role", "kind: ClusterRole\nmetadata: {name: agg}\naggregationRule:\n  clusterRoleSelectors: [{matchLabels: {images: 'true'}}]\n---\n" +
			"kind: ClusterRole\nmetadata: {name: part, labels: {images: 'true'}}\nrules:\n- {apiGroups: ['*'], resources: ['*/layers'], verbs: [get]}\n---\n" +
			strings.Replace(puller, "system:image-puller", "agg", 1) + "- {kind: ServiceAccount, name: default, namespace: team-a}\n", pull, decision.AccessAllowed, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := NewOffline()
			for _, doc := range strings.Split(tt.objects, "\n---\n") {
				if strings.TrimSpace(doc) == "" {
					continue
				}
				var obj any
				switch kind := doc[len("kind: "):strings.Index(doc, "\n")]; kind {
				case "Role":
					obj = &rbacv1.Role{}
				case "ClusterRole":
					obj = &rbacv1.ClusterRole{}
				case "RoleBinding":
					obj = &rbacv1.RoleBinding{}
				case "ClusterRoleBinding":
					obj = &rbacv1.ClusterRoleBinding{}
				}
				if err := yaml.Unmarshal([]byte(doc), obj); err != nil {
					t.Fatal(err)
				}
				if !o.Add(obj, "default") {
					t.Fatalf("not an RBAC object: %T", obj)
				}
			}
			got := o.Ask(context.Background(), []decision.AccessQuestion{tt.q})[tt.q]
			if got.Status != tt.want || !strings.Contains(got.Reason, tt.reason) {
				t.Errorf("got %+v, want status %d with reason %q", got, tt.want, tt.reason)
			}
		})
	}
}
