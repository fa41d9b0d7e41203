package registryauth

import (
	"testing"

	"github.com/pullguard/pullguard/internal/depcheck"
)

// TestPure keeps the matching rules free of I/O all the way down: no HTTP, no TLS, no
// Kubernetes client or API machinery, no registry transport (that is pkg/registryauth/probe).
func TestPure(t *testing.T) {
	depcheck.AssertDeps(t, "github.com/pullguard/pullguard/pkg/registryauth", nil, []depcheck.Rule{
		depcheck.ForbidTree("net/http"),
		depcheck.ForbidTree("crypto/tls"),
		depcheck.Forbid("os/exec"),
		depcheck.ForbidTree("k8s.io"),
		depcheck.ForbidTree("sigs.k8s.io"),
		depcheck.ForbidTree("github.com/google/go-containerregistry"),
		depcheck.ForbidTree("github.com/pullguard/pullguard/pkg/registryauth/probe"),
	})
}
