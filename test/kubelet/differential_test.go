package kubelet

import (
	"flag"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

var (
	seed  = flag.Uint64("seed", 20260901, "seed of the generated cases (the same seed, the same cases)")
	cases = flag.Int("cases", 3000, "generated pods (and keyrings) to compare")
	shown = flag.Int("shown", 8, "disagreements printed per kind, each of another shape, shrunk to a minimal pod")
)

// TestPodsAgainstKubelet generates pods, their namespaces' secrets and their node's
// config.json, lets pullguard decide and patch each pod, decides the final pod again, and
// compares, for every image of the final pod, pullguard's Candidates and outcome with the
// credentials the kubelet's own code tries, in its order. It also checks that the final pod
// needs no further patch and that what was patched in is what pullguard reported injecting.
func TestPodsAgainstKubelet(t *testing.T) {
	start := time.Now()
	node := newKubeletNode(t)
	g := newGenerator(*seed)
	t.Logf("seed %d (rerun with: go test -run TestPodsAgainstKubelet -seed %d)", *seed, *seed)

	// Disagreements are grouped by kind and signature; each signature is shown once, on
	// the first pod that shows it, shrunk.
	type report struct {
		pods  int
		sigs  map[string]int
		shown []string
	}
	byKind := map[string]*report{}
	images, failing := 0, 0
	stats := map[string]int{}
	for n := range *cases {
		c := g.podCase()
		images += len(c.Images)
		found := check(node, c, stats)
		if len(found) == 0 {
			continue
		}
		failing++
		for _, kind := range kindsOf(found) {
			r := byKind[kind]
			if r == nil {
				r = &report{sigs: map[string]int{}}
				byKind[kind] = r
			}
			r.pods++
			for _, f := range found {
				if f.Kind != kind {
					continue
				}
				r.sigs[f.Sig]++
				if r.sigs[f.Sig] > 1 || len(r.shown) >= *shown {
					continue
				}
				min := shrink(func(c podCase) bool { return hasFinding(check(node, c, nil), f) }, c)
				var lines []string
				for _, g := range check(node, min, nil) {
					if g.Kind == f.Kind && g.Sig == f.Sig {
						lines = append(lines, "  "+g.String())
					}
				}
				r.shown = append(r.shown, fmt.Sprintf("pod %d of seed %d (%s), shrunk:\n%s%s", n, *seed, f.Sig, min, strings.Join(lines, "\n")))
			}
		}
	}
	kinds := make([]string, 0, len(byKind))
	for k := range byKind {
		kinds = append(kinds, k)
	}
	slices.Sort(kinds)
	for _, k := range kinds {
		r := byKind[k]
		sigs := make([]string, 0, len(r.sigs))
		for sig, n := range r.sigs {
			sigs = append(sigs, fmt.Sprintf("  %5d × %s", n, sig))
		}
		slices.Sort(sigs)
		t.Errorf("%s: %d of %d pods disagree with the kubelet, %d different ways (count × signature):\n%s\nminimal reproductions:\n%s",
			k, r.pods, *cases, len(r.sigs), strings.Join(sigs, "\n"), strings.Join(r.shown, "\n\n"))
	}
	t.Logf("%d pods, %d images, %d disagreeing, in %v", *cases, images, failing, time.Since(start).Round(time.Millisecond))
	lines := make([]string, 0, len(stats))
	for what, n := range stats {
		lines = append(lines, fmt.Sprintf("  %5d %s", n, what))
	}
	slices.Sort(lines)
	t.Logf("what the cases exercised (images, or pods):\n%s", strings.Join(lines, "\n"))
}

func kindsOf(found []finding) []string {
	var out []string
	for _, f := range found {
		if !slices.Contains(out, f.Kind) {
			out = append(out, f.Kind)
		}
	}
	return out
}

func hasFinding(found []finding, want finding) bool {
	return slices.ContainsFunc(found, func(f finding) bool { return f.Kind == want.Kind && f.Sig == want.Sig })
}
