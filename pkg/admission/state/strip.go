package state

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/pullguard/pullguard/pkg/admission/decision"
)

// The transforms keep only what decisions read, before objects reach the caches. (Secrets
// never reach an informer cache: see secretSink.)

// stripServiceAccount keeps the account's pull secrets, the names of its mountable secrets
// (a build reads them), the enforce annotation, and the name of its dockercfg secret where
// the lists do not already give it. On OpenShift every account names its dockercfg
// secret in an annotation and lists it too: a map per account, tens of thousands of them,
// would say again what its list says.
func stripServiceAccount(obj any) (any, error) {
	sa, ok := obj.(*corev1.ServiceAccount)
	if !ok {
		return obj, nil
	}
	out := &corev1.ServiceAccount{ObjectMeta: minimalMeta(sa.ObjectMeta), ImagePullSecrets: sa.ImagePullSecrets}
	if len(sa.Secrets) > 0 {
		out.Secrets = make([]corev1.ObjectReference, len(sa.Secrets))
		for i, ref := range sa.Secrets {
			out.Secrets[i].Name = ref.Name
		}
	}
	if v, ok := sa.Annotations[decision.EnforceMountableAnnotation]; ok {
		out.Annotations = map[string]string{decision.EnforceMountableAnnotation: v}
	}
	// OpenShift sets the dockercfg annotation before the secret exists: then it is the
	// only place the name is.
	if v, ok := sa.Annotations[decision.PullSecretRefAnnotation]; ok && v != decision.DockercfgSecret(out) {
		if out.Annotations == nil {
			out.Annotations = map[string]string{}
		}
		out.Annotations[decision.PullSecretRefAnnotation] = v
	}
	return out, nil
}

// stripNamespace keeps the labels that set the namespace's policy, and nothing else.
func stripNamespace(obj any) (any, error) {
	ns, ok := obj.(*corev1.Namespace)
	if !ok {
		return obj, nil
	}
	out := &corev1.Namespace{ObjectMeta: minimalMeta(ns.ObjectMeta)}
	for _, key := range []string{decision.ModeLabel, decision.FailurePolicyLabel} {
		if v, ok := ns.Labels[key]; ok {
			if out.Labels == nil {
				out.Labels = map[string]string{}
			}
			out.Labels[key] = v
		}
	}
	return out, nil
}

func minimalMeta(m metav1.ObjectMeta) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: m.Name, Namespace: m.Namespace, UID: m.UID, ResourceVersion: m.ResourceVersion}
}
