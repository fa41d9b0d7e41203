package harness

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// PullSecret returns a kubernetes.io/dockerconfigjson secret for one registry key.
func PullSecret(ns, name, registry, user, password string) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Type:       corev1.SecretTypeDockerConfigJson,
		Data:       map[string][]byte{corev1.DockerConfigJsonKey: DockerConfigJSON(registry, user, password)},
	}
}

// DockerConfigJSON returns a .dockerconfigjson body for one registry key.
func DockerConfigJSON(registry, user, password string) []byte {
	return AuthFile{registry: {user, password}}.JSON()
}

// Namespace creates a namespace with labels and its default service account, listing
// saPullSecrets (no controller-manager creates it here), and fails the test on error.
func (c *Cluster) Namespace(t testing.TB, name string, labels map[string]string, saPullSecrets ...string) string {
	t.Helper()
	ctx := context.Background()
	if _, err := c.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := c.EnsureServiceAccount(ctx, name, "default", saPullSecrets...); err != nil {
		t.Fatal(err)
	}
	return name
}

// CreatePullSecret creates a pull secret for one registry key, failing the test on error.
func (c *Cluster) CreatePullSecret(t testing.TB, ns, name, registry, user, password string) {
	t.Helper()
	if _, err := c.Client.CoreV1().Secrets(ns).Create(context.Background(), PullSecret(ns, name, registry, user, password), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}
