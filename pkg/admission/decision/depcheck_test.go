package decision

import (
	"testing"

	"github.com/pullguard/pullguard/internal/depcheck"
)

// TestPure keeps the decision core free of I/O. k8s.io/api's types reach net/http through
// apimachinery, so HTTP is checked on the core's own imports; clients, the webhook framework
// and the registry transport are checked all the way down.
func TestPure(t *testing.T) {
	io := []depcheck.Rule{
		depcheck.ForbidTree("net"),
		depcheck.Forbid("os"),
		depcheck.Forbid("os/exec"),
		depcheck.ForbidTree("crypto/tls"),
		depcheck.Forbid("io/ioutil"),
	}
	depcheck.AssertDeps(t, "github.com/pullguard/pullguard/pkg/admission/decision", io, []depcheck.Rule{
		depcheck.ForbidTree("k8s.io/client-go"),
		depcheck.ForbidTree("sigs.k8s.io/controller-runtime"),
		depcheck.ForbidTree("github.com/google/go-containerregistry"),
		depcheck.ForbidTree("github.com/prometheus"),
		depcheck.ForbidTree("github.com/pullguard/pullguard/pkg/registryauth/probe"),
	})
	depcheck.AssertDeps(t, "github.com/pullguard/pullguard/pkg/admission/openshift", io, []depcheck.Rule{
		depcheck.ForbidTree("k8s.io/client-go"),
	})
}
