package state

import (
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/pullguard/pullguard/pkg/registryauth"
)

// TestNodeKeyringAsAuthFile: the --node-credentials secrets are also read as CRI-O reads its
// auth file (containers/image), from their data as the API server holds it, once per
// resourceVersion: an entry with only a username and password is a credential to the
// kubelet and none to CRI-O, and an undecodable "auth" makes the kubelet drop the whole
// secret while CRI-O keeps its other keys.
func TestNodeKeyringAsAuthFile(t *testing.T) {
	const mirror = "mirror.corp:5000"
	global := types.NamespacedName{Namespace: "openshift-config", Name: "pull-secret"}
	good := base64.StdEncoding.EncodeToString([]byte("n:test-password-1"))
	secret := func(version, auths string) *corev1.Secret {
		return &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: global.Namespace, Name: global.Name, ResourceVersion: version},
			Type:       corev1.SecretTypeDockerConfigJson,
			Data:       map[string][]byte{corev1.DockerConfigJsonKey: []byte(`{"auths":` + auths + `}`)},
		}
	}
	client := fake.NewClientset()
	s := &State{
		client:    client,
		opts:      Options{NodeCredentialSecrets: []types.NamespacedName{global}},
		log:       slog.New(slog.NewTextHandler(io.Discard, nil)),
		secrets:   newSecretStore(),
		fileBytes: map[string][]byte{},
	}
	s.secrets.onChange = s.secretChanged
	s.ready.Store(true)
	// put stores a version of the secret as the API server and the watch hold it.
	put := func(sec *corev1.Secret) {
		t.Helper()
		if _, err := client.CoreV1().Secrets(sec.Namespace).Get(t.Context(), sec.Name, metav1.GetOptions{}); err == nil {
			_, err = client.CoreV1().Secrets(sec.Namespace).Update(t.Context(), sec, metav1.UpdateOptions{})
			if err != nil {
				t.Fatal(err)
			}
		} else if _, err := client.CoreV1().Secrets(sec.Namespace).Create(t.Context(), sec, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		s.secrets.put(sec.Namespace, sec.Name, sec.ResourceVersion, registryauth.ParseSecret(sec.Name, sec.Type, sec.Data))
	}
	lists := func() int {
		n := 0
		for _, a := range client.Actions() {
			if a.GetVerb() == "list" {
				n++
			}
		}
		return n
	}
	lookup := func(ref string) (kubelet int, file registryauth.Match, found bool, err error) {
		t.Helper()
		img, perr := registryauth.ParseImage(ref)
		if perr != nil {
			t.Fatal(perr)
		}
		file, found, err = s.nodeAuthFile.Load().AuthFileLookup(img)
		return len(s.node.Load().Lookup(img)), file, found, err
	}

	put(secret("1", `{"`+mirror+`":{"username":"n","password":"test-password-1"},"quay.io":{"auth":"`+good+`"}}`))
	if n, m, ok, err := lookup(mirror + "/ubi9/ubi:1"); n != 1 || ok || err != nil {
		t.Errorf("username and password only: kubelet %d credentials (want 1), auth file %q %v %v (want none)", n, m.Key, ok, err)
	}
	if _, m, ok, err := lookup("quay.io/acme/app:1"); !ok || err != nil || m.Secret != global.String() {
		t.Errorf("quay.io: auth file %q %v %v, want the key of %s", m.Secret, ok, err, global)
	}
	if got := lists(); got != 1 {
		t.Fatalf("%d lists, want 1", got)
	}
	s.rebuildNode() // same resourceVersion: read once
	if got := lists(); got != 1 {
		t.Errorf("%d lists after a rebuild at the same resourceVersion, want 1", got)
	}

	put(secret("2", `{"`+mirror+`":{"auth":"!!!"},"quay.io":{"auth":"`+good+`"}}`))
	if got := lists(); got != 2 {
		t.Errorf("%d lists after the secret changed, want 2", got)
	}
	if n, _, ok, err := lookup("quay.io/acme/app:1"); n != 0 || !ok || err != nil {
		t.Errorf("quay.io beside an undecodable entry: kubelet %d credentials (want 0: it drops the secret), auth file %v %v (want the key)", n, ok, err)
	}
	if _, _, ok, err := lookup(mirror + "/ubi9/ubi:1"); !ok || !errors.Is(err, registryauth.ErrBadAuth) {
		t.Errorf("the undecodable entry: %v %v, want ErrBadAuth", ok, err)
	}
}
