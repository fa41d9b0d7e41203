package state

import (
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"

	"github.com/pullguard/pullguard/pkg/registryauth"
)

// TestNodeKeyringAsAuthFile: the --node-credentials secrets are also read as CRI-O reads its
// auth file (containers/image), from their data as the watch or a Refresh delivers it, once
// per resourceVersion and without asking the API server again: an entry with only a
// username and password is a credential to the kubelet and none to CRI-O, and an
// undecodable "auth" makes the kubelet drop the whole secret while CRI-O keeps its other
// keys. Other secrets are not read twice.
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
	s.secrets.nodeSecrets = s.opts.NodeCredentialSecrets
	s.ready.Store(true)
	watch := newSecretSink(s.secrets)
	lookup := func(ref string) (kubelet int, file registryauth.Match, found bool, err error) {
		t.Helper()
		img, perr := registryauth.ParseImage(ref)
		if perr != nil {
			t.Fatal(perr)
		}
		file, found, err = s.nodeAuthFile.Load().AuthFileLookup(img)
		return len(s.node.Load().Lookup(img)), file, found, err
	}

	watch.Add(secret("1", `{"`+mirror+`":{"username":"n","password":"test-password-1"},"quay.io":{"auth":"`+good+`"}}`))
	if n, m, ok, err := lookup(mirror + "/ubi9/ubi:1"); n != 1 || ok || err != nil {
		t.Errorf("username and password only: kubelet %d credentials (want 1), auth file %q %v %v (want none)", n, m.Key, ok, err)
	}
	if _, m, ok, err := lookup("quay.io/acme/app:1"); !ok || err != nil || m.Secret != global.String() {
		t.Errorf("quay.io: auth file %q %v %v, want the key of %s", m.Secret, ok, err, global)
	}
	// Same resourceVersion, other bytes: had it been read again, quay.io would be gone.
	watch.Update(secret("1", `{}`))
	s.rebuildNode()
	if _, _, ok, err := lookup("quay.io/acme/app:1"); !ok || err != nil {
		t.Errorf("quay.io after a redelivery at the same resourceVersion: %v %v, want the key read once", ok, err)
	}

	watch.Update(secret("2", `{"`+mirror+`":{"auth":"!!!"},"quay.io":{"auth":"`+good+`"}}`))
	if n, _, ok, err := lookup("quay.io/acme/app:1"); n != 0 || !ok || err != nil {
		t.Errorf("quay.io beside an undecodable entry: kubelet %d credentials (want 0: it drops the secret), auth file %v %v (want the key)", n, ok, err)
	}
	if _, _, ok, err := lookup(mirror + "/ubi9/ubi:1"); !ok || !errors.Is(err, registryauth.ErrBadAuth) {
		t.Errorf("the undecodable entry: %v %v, want ErrBadAuth", ok, err)
	}
	if a := client.Actions(); len(a) != 0 {
		t.Fatalf("the watch path asked the API server %d times, want none: %v", len(a), a)
	}

	// A review's Refresh that finds a newer version reads it too, with only its own lists.
	if _, err := client.CoreV1().Secrets(global.Namespace).Create(t.Context(),
		secret("3", `{"`+mirror+`":{"auth":"`+good+`"}}`), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	client.ClearActions()
	if changed, err := s.Refresh(t.Context(), global.Namespace); err != nil || !changed {
		t.Fatalf("Refresh = %v, %v", changed, err)
	}
	if _, m, ok, err := lookup(mirror + "/ubi9/ubi:1"); !ok || err != nil || m.Secret != global.String() {
		t.Errorf("the mirror after a Refresh: auth file %q %v %v, want the key of %s", m.Secret, ok, err, global)
	}
	if _, _, ok, _ := lookup("quay.io/acme/app:1"); ok {
		t.Error("quay.io after a Refresh dropped it: still in the auth file")
	}
	for _, a := range client.Actions() {
		l, ok := a.(clienttesting.ListAction)
		if !ok || !strings.HasPrefix(l.GetListRestrictions().Fields.String(), "type=") {
			t.Errorf("a Refresh asked the API server more than its lists of pull secrets: %v", a)
		}
	}

	watch.Add(secretAt(global.Namespace, "other", "4", "a.example.com"))
	if c, _ := s.secrets.cached(global.Namespace, "other"); c.secret == nil || c.authFile != nil {
		t.Errorf("another secret: %+v, want only the kubelet's reading", c)
	}
}
