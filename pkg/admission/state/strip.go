package state

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/pullguard/pullguard/pkg/registryauth"
)

// The transforms keep only what decisions read, before objects reach the caches. Secrets
// lose everything but their type and the data key of that type: annotations go too, as
// kubectl's last-applied-configuration holds the whole secret.

func stripSecret(obj any) (any, error) {
	s, ok := obj.(*corev1.Secret)
	if !ok {
		return obj, nil
	}
	key := registryauth.KeyDockerConfigJSON
	if s.Type == corev1.SecretTypeDockercfg {
		key = registryauth.KeyDockercfg
	}
	out := &corev1.Secret{ObjectMeta: minimalMeta(s.ObjectMeta), Type: s.Type}
	if v, ok := s.Data[key]; ok {
		out.Data = map[string][]byte{key: v}
	}
	return out, nil
}

func stripServiceAccount(obj any) (any, error) {
	sa, ok := obj.(*corev1.ServiceAccount)
	if !ok {
		return obj, nil
	}
	out := &corev1.ServiceAccount{ObjectMeta: minimalMeta(sa.ObjectMeta), Secrets: sa.Secrets, ImagePullSecrets: sa.ImagePullSecrets}
	if v, ok := sa.Annotations[enforceMountableAnnotation]; ok {
		out.Annotations = map[string]string{enforceMountableAnnotation: v}
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

const enforceMountableAnnotation = "kubernetes.io/enforce-mountable-secrets"

func minimalMeta(m metav1.ObjectMeta) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: m.Name, Namespace: m.Namespace, UID: m.UID, ResourceVersion: m.ResourceVersion}
}

var _ cache.TransformFunc = stripSecret
