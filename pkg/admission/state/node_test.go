package state

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"k8s.io/apimachinery/pkg/types"

	"github.com/pullguard/pullguard/pkg/registryauth"
)

// nodeState is a State with only what the node keyring needs: the secret store and the
// node credential files.
func nodeState(t *testing.T, secrets []types.NamespacedName, files []string) *State {
	t.Helper()
	s := &State{
		opts:      Options{NodeCredentialSecrets: secrets, NodeCredentialFiles: files},
		log:       slog.New(slog.NewTextHandler(io.Discard, nil)),
		secrets:   newSecretStore(),
		fileBytes: map[string][]byte{},
	}
	s.secrets.onChange = s.secretChanged
	return s
}

// nodeSources returns the sources of the node credentials the kubelet would try for image.
func nodeSources(t *testing.T, s *State, image string) []string {
	t.Helper()
	img, err := registryauth.ParseImage(image)
	if err != nil {
		t.Fatal(err)
	}
	return registryauth.SecretNames(s.node.Load().Lookup(img))
}

func writeConfig(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestNodeKeyringRebuild: the node keyring holds the --node-credentials secrets, named
// namespace/name, then the files, in flag order; it follows the secrets as they change once
// the caches are synced; and a file that stops parsing keeps its last good content.
func TestNodeKeyringRebuild(t *testing.T) {
	global := types.NamespacedName{Namespace: "openshift-config", Name: "pull-secret"}
	file := filepath.Join(t.TempDir(), "config.json")
	writeConfig(t, file, `{"auths":{"quay.io":{"auth":"Y2k6bm90LWEtcmVhbC1wYXNzd29yZA=="}}}`)
	s := nodeState(t, []types.NamespacedName{global}, []string{file})

	s.secrets.put(global.Namespace, global.Name, "1", registryauth.ParseSecret(global.Name, "kubernetes.io/dockerconfigjson",
		map[string][]byte{".dockerconfigjson": []byte(`{"auths":{"quay.io":{"auth":"Y2k6bm90LWEtcmVhbC1wYXNzd29yZA=="},"registry.redhat.io":{"auth":"Y2k6bm90LWEtcmVhbC1wYXNzd29yZA=="}}}`)}), nil)
	if err := s.reloadFiles(); err != nil {
		t.Fatal(err)
	}
	if got, want := nodeSources(t, s, "quay.io/acme/app"), []string{"openshift-config/pull-secret", file}; !slices.Equal(got, want) {
		t.Fatalf("quay.io: %q, want %q (secrets before files)", got, want)
	}

	// Once the caches are synced, the keyring follows the secret as it changes.
	s.ready.Store(true)
	s.secrets.put(global.Namespace, global.Name, "2", registryauth.ParseSecret(global.Name, "kubernetes.io/dockerconfigjson",
		map[string][]byte{".dockerconfigjson": []byte(`{"auths":{"registry.redhat.io":{"auth":"Y2k6bm90LWEtcmVhbC1wYXNzd29yZA=="}}}`)}), nil)
	if got, want := nodeSources(t, s, "quay.io/acme/app"), []string{file}; !slices.Equal(got, want) {
		t.Fatalf("after the secret dropped quay.io: %q, want %q", got, want)
	}
	s.secrets.remove(global.Namespace, global.Name, "3")
	if got := nodeSources(t, s, "registry.redhat.io/ubi9/ubi"); len(got) != 0 {
		t.Fatalf("after the secret was deleted: %q", got)
	}

	// A malformed secret is skipped, not fatal.
	s.secrets.put(global.Namespace, global.Name, "4", registryauth.ParseSecret(global.Name, "kubernetes.io/dockerconfigjson",
		map[string][]byte{".dockerconfigjson": []byte(`{"auths":`)}), nil)
	if got, want := nodeSources(t, s, "quay.io/acme/app"), []string{file}; !slices.Equal(got, want) {
		t.Fatalf("with a malformed secret: %q, want %q", got, want)
	}

	// A file that stops parsing keeps its last good content.
	writeConfig(t, file, `{"auths":`)
	if err := s.reloadFiles(); err == nil {
		t.Fatal("a malformed file must be reported")
	}
	if got, want := nodeSources(t, s, "quay.io/acme/app"), []string{file}; !slices.Equal(got, want) {
		t.Fatalf("after the file broke: %q, want %q", got, want)
	}
	writeConfig(t, file, `{"auths":{"ghcr.io":{"auth":"Y2k6bm90LWEtcmVhbC1wYXNzd29yZA=="}}}`)
	if err := s.reloadFiles(); err != nil {
		t.Fatal(err)
	}
	if got := nodeSources(t, s, "quay.io/acme/app"); len(got) != 0 {
		t.Fatalf("after the file changed: %q", got)
	}
	if got, want := nodeSources(t, s, "ghcr.io/acme/app"), []string{file}; !slices.Equal(got, want) {
		t.Fatalf("ghcr.io after the file changed: %q, want %q", got, want)
	}
}
