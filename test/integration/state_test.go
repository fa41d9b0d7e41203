package integration

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/pullguard/pullguard/pkg/admission/state"
	"github.com/pullguard/pullguard/pkg/registryauth"
)

// TestRefreshConfirmsAgainstTheAPIServer: a cache that has not seen a secret yet (here,
// informers never started) learns it from Refresh, which handlers call before denying for
// a missing credential.
func TestRefreshConfirmsAgainstTheAPIServer(t *testing.T) {
	ns := namespace(t, "refresh", nil)
	pullSecret(t, ns, "fresh", "registry.private.test")
	opaque := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "opaque", Namespace: ns}, StringData: map[string]string{"k": "v"}}
	if _, err := cluster.Client.CoreV1().Secrets(ns).Create(context.Background(), opaque, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	st, err := state.New(cluster.Client, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	img, _ := registryauth.ParseImage("registry.private.test/acme/app:1")
	if got := st.Facts(ns).Secrets.Candidates(img); len(got) != 0 {
		t.Fatalf("an unstarted cache knows %v", got)
	}
	changed, err := st.Refresh(context.Background(), ns)
	if err != nil || !changed {
		t.Fatalf("Refresh = %v, %v; want a change", changed, err)
	}
	if got := registryauth.SecretNames(st.Facts(ns).Secrets.Candidates(img)); len(got) != 1 || got[0] != "fresh" {
		t.Fatalf("after Refresh: %q", got)
	}
	if st.CachedPullSecrets() != 1 {
		t.Fatalf("cached %d secrets; only pull secrets are read", st.CachedPullSecrets())
	}
	if changed, err := st.Refresh(context.Background(), ns); err != nil || changed {
		t.Fatalf("a second Refresh = %v, %v; want no change", changed, err)
	}
}

// TestDeletedSecretIsForgotten: once a pull secret is deleted, pullguard stops injecting it.
func TestDeletedSecretIsForgotten(t *testing.T) {
	ns := namespace(t, "forget", nil)
	pullSecret(t, ns, "acme", "registry.private.test")
	manifest := podYAML(ns, "web", nil, "app=registry.private.test/acme/app:1")
	stdout, _ := kubectl(t, manifest, false, "apply", "--dry-run=server", "-o", "jsonpath={.spec.imagePullSecrets[*].name}", "-f", "-")
	if stdout != "acme" {
		t.Fatalf("before deletion: %q", stdout)
	}
	if err := cluster.Client.CoreV1().Secrets(ns).Delete(context.Background(), "acme", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, stderr, err := cluster.Kubectl(context.Background(), manifest, "apply", "--dry-run=server", "-f", "-")
		if err != nil && strings.Contains(stderr, `no pull secret in namespace "forget" has credentials for registry.private.test`) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the deleted secret is still used: %v %s", err, stderr)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
