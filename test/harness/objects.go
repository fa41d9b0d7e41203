package harness

import (
	"encoding/base64"
	"encoding/json"
	"fmt"

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
	auth := base64.StdEncoding.EncodeToString([]byte(user + ":" + password))
	b, err := json.Marshal(map[string]any{"auths": map[string]any{registry: map[string]string{"auth": auth}}})
	if err != nil {
		panic(fmt.Sprintf("harness: %v", err))
	}
	return b
}
