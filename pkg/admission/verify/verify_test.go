package verify_test

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/pullguard/pullguard/pkg/admission/decision"
	"github.com/pullguard/pullguard/pkg/admission/verify"
	"github.com/pullguard/pullguard/pkg/registryauth/probe"
	"github.com/pullguard/pullguard/test/harness"
)

// pod has one container per host, in order, each with an image of repository repo.
func pod(ns, repo string, hosts []string) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "many", Namespace: ns}}
	for i, h := range hosts {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: fmt.Sprintf("c%d", i), Image: h + "/" + repo + ":1"})
	}
	return p
}

func TestReviewLimits(t *testing.T) {
	s, err := harness.ListenSilent(harness.LoopbackAddresses(5, 40))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	p, err := probe.New(probe.Options{DenyNetworks: []netip.Prefix{}, MaxPerReview: 32, NamespaceBurst: 32, NamespaceRate: 0.001, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	// Each namespace asks about its own repository: identical probes still in flight would
	// be merged, not sent again.
	decide := func(ns string) *decision.Decision {
		d, ok := verify.Decide(context.Background(), pod(ns, ns+"/app", s.Hosts), &decision.Facts{Namespace: ns}, p, 500*time.Millisecond)
		if !ok {
			t.Fatal("not decided")
		}
		return d
	}
	reasons := func(d *decision.Decision) map[string][]int {
		out := map[string][]int{}
		for i, img := range d.Images {
			for _, r := range []string{verify.ReasonTooMany, verify.ReasonRateLimit, probe.ReasonUnreachable} {
				if strings.Contains(img.Message, r) {
					out[r] = append(out[r], i)
				}
			}
		}
		return out
	}
	contacted := func() []int {
		var out []int
		for i, n := range s.Connections() {
			if n > 0 {
				out = append(out, i)
			}
		}
		return out
	}

	// The first 32 images in the pod's order are probed; the other 8 are not.
	got := reasons(decide("tenant-a"))
	conns := contacted()
	t.Logf("first review: %d probed, %d over the limit, %d registries contacted", len(got[probe.ReasonUnreachable]), len(got[verify.ReasonTooMany]), len(conns))
	if len(conns) != 32 || conns[31] != 31 || len(got[verify.ReasonTooMany]) != 8 || got[verify.ReasonTooMany][0] != 32 {
		t.Fatalf("contacted %v; reasons %v: want the first 32 probed, the last 8 over the limit", conns, got)
	}
	// The namespace spent its burst: its next review sends nothing.
	got = reasons(decide("tenant-a"))
	if conns := contacted(); len(conns) != 0 || len(got[verify.ReasonRateLimit]) != 40 {
		t.Fatalf("contacted %v; reasons %v: want nothing sent, all 40 rate-limited", conns, got)
	}
	// Another namespace still probes.
	decide("tenant-b")
	if conns := contacted(); len(conns) != 32 {
		t.Fatalf("another namespace contacted %d registries, want 32", len(conns))
	}
}
