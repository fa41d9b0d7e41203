package state

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/pullguard/pullguard/pkg/admission/decision"
)

// The transforms keep only what decisions read, before objects reach the caches. (Secrets
// never reach an informer cache: see secretSink.)

func stripServiceAccount(obj any) (any, error) {
	sa, ok := obj.(*corev1.ServiceAccount)
	if !ok {
		return obj, nil
	}
	out := &corev1.ServiceAccount{ObjectMeta: minimalMeta(sa.ObjectMeta), Secrets: sa.Secrets, ImagePullSecrets: sa.ImagePullSecrets}
	// The enforce annotation, and the name of the account's secret for the internal
	// registry, which OpenShift sets before the secret exists.
	for _, key := range []string{decision.EnforceMountableAnnotation, decision.PullSecretRefAnnotation} {
		if v, ok := sa.Annotations[key]; ok {
			if out.Annotations == nil {
				out.Annotations = map[string]string{}
			}
			out.Annotations[key] = v
		}
	}
	return out, nil
}

func stripNamespace(obj any) (any, error) {
	ns, ok := obj.(*corev1.Namespace)
	if !ok {
		return obj, nil
	}
	out := &corev1.Namespace{ObjectMeta: minimalMeta(ns.ObjectMeta)}
	out.Labels = ns.Labels
	return out, nil
}

func minimalMeta(m metav1.ObjectMeta) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: m.Name, Namespace: m.Namespace, UID: m.UID, ResourceVersion: m.ResourceVersion}
}
