package state

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/pullguard/pullguard/pkg/admission/decision"
)

func TestStrip(t *testing.T) {
	meta := metav1.ObjectMeta{
		Name: "builder", Namespace: "p1", UID: "u1", ResourceVersion: "7",
		Labels: map[string]string{"team": "a"},
		Annotations: map[string]string{
			decision.EnforceMountableAnnotation:                "true",
			"openshift.io/internal-registry-pull-secret-ref":   "builder-dockercfg-x",
			"kubectl.kubernetes.io/last-applied-configuration": `{"a long":"document"}`,
		},
		ManagedFields:   []metav1.ManagedFieldsEntry{{Manager: "kubectl"}},
		OwnerReferences: []metav1.OwnerReference{{Name: "o"}},
	}
	kept := metav1.ObjectMeta{Name: "builder", Namespace: "p1", UID: "u1", ResourceVersion: "7"}
	pull := []corev1.LocalObjectReference{{Name: "builder-dockercfg-x"}}
	mountable := []corev1.ObjectReference{{Name: "builder-dockercfg-x"}}
	tests := []struct {
		name  string
		strip func(any) (any, error)
		in    any
		want  any
	}{
		{"service account keeps pull secrets, mountable secrets' names, the enforce annotation and its dockercfg secret's name", stripServiceAccount,
			&corev1.ServiceAccount{ObjectMeta: meta, ImagePullSecrets: []corev1.LocalObjectReference{{Name: "other"}}, Secrets: []corev1.ObjectReference{{Name: "token", Kind: "Secret", UID: "u2"}}},
			&corev1.ServiceAccount{ObjectMeta: withAnnotations(kept, map[string]string{decision.EnforceMountableAnnotation: "true", decision.PullSecretRefAnnotation: "builder-dockercfg-x"}),
				ImagePullSecrets: []corev1.LocalObjectReference{{Name: "other"}}, Secrets: []corev1.ObjectReference{{Name: "token"}}}},
		{"the dockercfg annotation is dropped where the account's list names that secret", stripServiceAccount,
			&corev1.ServiceAccount{ObjectMeta: meta, ImagePullSecrets: pull, Secrets: mountable},
			&corev1.ServiceAccount{ObjectMeta: withAnnotations(kept, map[string]string{decision.EnforceMountableAnnotation: "true"}), ImagePullSecrets: pull, Secrets: mountable}},
		{"and the account then needs no annotations at all", stripServiceAccount,
			&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "builder", Annotations: map[string]string{decision.PullSecretRefAnnotation: "builder-dockercfg-x"}}, Secrets: mountable},
			&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "builder"}, Secrets: mountable}},
		{"the annotation stays where it names another secret than the list", stripServiceAccount,
			&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "builder", Annotations: map[string]string{decision.PullSecretRefAnnotation: "builder-dockercfg-new"}}, ImagePullSecrets: pull},
			&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "builder", Annotations: map[string]string{decision.PullSecretRefAnnotation: "builder-dockercfg-new"}}, ImagePullSecrets: pull}},
		{"service account without the annotation has none", stripServiceAccount,
			&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Annotations: map[string]string{"x": "y"}}},
			&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}},
		{"namespace keeps pullguard's labels only", stripNamespace,
			&corev1.Namespace{ObjectMeta: withLabels(meta, map[string]string{"team": "a", decision.ModeLabel: "warn", decision.FailurePolicyLabel: "closed"}), Spec: corev1.NamespaceSpec{Finalizers: []corev1.FinalizerName{"kubernetes"}}},
			&corev1.Namespace{ObjectMeta: withLabels(kept, map[string]string{decision.ModeLabel: "warn", decision.FailurePolicyLabel: "closed"})}},
		{"namespace without them has no labels", stripNamespace,
			&corev1.Namespace{ObjectMeta: meta},
			&corev1.Namespace{ObjectMeta: kept}},
		{"anything else passes through", stripServiceAccount, "tombstone", "tombstone"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.strip(tt.in)
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %#v, %v\nwant %#v", got, err, tt.want)
			}
		})
	}
}

func withAnnotations(m metav1.ObjectMeta, a map[string]string) metav1.ObjectMeta {
	m.Annotations = a
	return m
}

func withLabels(m metav1.ObjectMeta, l map[string]string) metav1.ObjectMeta {
	m.Labels = l
	return m
}
