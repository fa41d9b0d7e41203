package state

import (
	"io"
	"log/slog"
	"testing"

	"k8s.io/client-go/kubernetes/fake"

	"github.com/pullguard/pullguard/pkg/admission/decision"
)

// TestRefreshReadsLikeTheWatch: a secret a review's Refresh stores first carries what the
// watch would have read from it, the service account whose token it holds, and keeps it
// when the watch then delivers the same resourceVersion (the watch reuses the cached
// reading).
func TestRefreshReadsLikeTheWatch(t *testing.T) {
	secret := secretAt("p1", "builder-dockercfg-x", "7", "a.example.com")
	secret.Annotations = map[string]string{decision.TokenServiceAccountAnnotation: "builder"}
	s := &State{
		client:  fake.NewClientset(secret),
		log:     slog.New(slog.NewTextHandler(io.Discard, nil)),
		secrets: newSecretStore(),
	}
	s.ready.Store(true)
	if changed, err := s.Refresh(t.Context(), "p1"); err != nil || !changed {
		t.Fatalf("Refresh = %v, %v", changed, err)
	}
	account := func(when string) {
		t.Helper()
		c, ok := s.secrets.cached("p1", secret.Name)
		if !ok || c.secret.ServiceAccount != "builder" {
			t.Fatalf("%s: cached %v, service account %q, want builder", when, ok, c.secret.ServiceAccount)
		}
	}
	account("after the Refresh")
	if err := newSecretSink(s.secrets).Add(secret); err != nil {
		t.Fatal(err)
	}
	account("after the watch delivered the same version")
}
