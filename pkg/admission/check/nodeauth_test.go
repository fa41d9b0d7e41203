package check

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/pullguard/pullguard/pkg/registryauth"
)

// TestNodeCredentialsReadAsAuthFile: the nodes' credentials (--node-credentials and
// --node-credentials-file) reach the decision twice: as the kubelet reads them (Node) and as
// CRI-O's containers/image reads its auth file (NodeAuthFile). An entry with only a
// username and password is a credential to the kubelet and none to CRI-O.
func TestNodeCredentialsReadAsAuthFile(t *testing.T) {
	const mirror = "mirror.corp:5000"
	good := base64.StdEncoding.EncodeToString([]byte("n:test-password-1"))
	w := newWorld(nil)
	w.addSecret("openshift-config", &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: "openshift-config", Name: "pull-secret"},
		Type:       corev1.SecretTypeDockerConfigJson,
		Data:       map[string][]byte{corev1.DockerConfigJsonKey: []byte(`{"auths":{"` + mirror + `":{"username":"n","password":"test-password-1"},"quay.io":{"auth":"` + good + `"}}}`)},
	})
	if err := w.addNodeCredentialsSecret("openshift-config/pull-secret"); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(file, []byte(`{"auths":{"`+mirror+`/team":{"username":"n","password":"test-password-1"},"ghcr.io":{"auth":"`+good+`"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := w.addNodeCredentialsFile(file); err != nil {
		t.Fatal(err)
	}
	f := w.facts("team-a")
	for _, ref := range []string{mirror + "/ubi9/ubi:1", mirror + "/team/app:1"} {
		img, err := registryauth.ParseImage(ref)
		if err != nil {
			t.Fatal(err)
		}
		if len(f.Node.Lookup(img)) == 0 {
			t.Errorf("%s: the kubelet reads no node credential", ref)
		}
		if m, ok, err := f.NodeAuthFile.AuthFileLookup(img); ok || err != nil {
			t.Errorf("%s: CRI-O's auth file has %q from %s (%v), want none: the entry has no auth field", ref, m.Key, m.Secret, err)
		}
	}
	for ref, want := range map[string]string{"quay.io/acme/app:1": "openshift-config/pull-secret", "ghcr.io/acme/app:1": file} {
		img, _ := registryauth.ParseImage(ref)
		if m, ok, err := f.NodeAuthFile.AuthFileLookup(img); !ok || err != nil || m.Secret != want {
			t.Errorf("%s: auth file match %q, %v, %v; want %s", ref, m.Secret, ok, err, want)
		}
	}
}
