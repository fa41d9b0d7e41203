package integration

import (
	"context"
	"fmt"
	"testing"

	"github.com/pullguard/pullguard/pkg/admission/state"
)

// TestRefreshPaginates: Refresh reads a namespace's pull secrets in pages (a secret may be
// 1 MiB), and reads them all.
func TestRefreshPaginates(t *testing.T) {
	ns := namespace(t, "refresh-pages", nil)
	const n = 40 // more than two pages
	for i := range n {
		pullSecret(t, ns, fmt.Sprintf("s%02d", i), fmt.Sprintf("r%02d.private.test", i))
	}
	st, err := state.New(cluster.Client, state.Options{}) // informers not started: only Refresh fills it
	if err != nil {
		t.Fatal(err)
	}
	changed, err := st.Refresh(context.Background(), ns)
	if err != nil || !changed {
		t.Fatalf("Refresh = %v, %v", changed, err)
	}
	if got := st.CachedPullSecrets(); got != n {
		t.Fatalf("cached %d of %d secrets", got, n)
	}
}
