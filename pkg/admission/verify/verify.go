// Package verify runs a decision with registry verification (SPEC section 6): decide once
// to learn which probes are needed, run them all in parallel within the review's budget,
// and decide again with the answers. The decision core stays pure; this is the I/O between
// its two passes.
package verify

import (
	"context"
	"sync"
	"time"

	"github.com/pullguard/pullguard/pkg/admission/decision"
	"github.com/pullguard/pullguard/pkg/registryauth/probe"
)

// maxRounds bounds the decide-probe rounds of one review. The first round plans the probes of
// the kubelet's first choices; a later round asks about credentials that only became the
// kubelet's choice once the registry refused another (a different secret injected, so the
// final pod's other images try it too). Two rounds settle every pod seen so far; the third
// is a margin, and a probe still unanswered after it counts as unavailable.
const maxRounds = 3

// Decide decides obj with f; with a prober it verifies within budget. It returns false for
// objects the core does not decide.
func Decide(ctx context.Context, obj any, f *decision.Facts, p *probe.Prober, budget time.Duration) (*decision.Decision, bool) {
	f.Verify = p != nil
	f.Verdicts = nil
	d, ok := decision.Decide(obj, f)
	if !ok || len(d.Probes) == 0 {
		return d, ok
	}
	ctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	f.Verdicts = decision.Verdicts{}
	for round := 1; len(d.Probes) > 0 && round <= maxRounds && ctx.Err() == nil; round++ {
		for key, vd := range Probe(ctx, p, d.Probes) {
			f.Verdicts[key] = vd
		}
		d, _ = decision.Decide(obj, f)
	}
	return d, true
}

// Probe runs every probe in parallel and returns the answers that came in before ctx ended;
// the decision treats a missing answer as unavailable.
func Probe(ctx context.Context, p *probe.Prober, requests []decision.ProbeRequest) decision.Verdicts {
	verdicts := make(decision.Verdicts, len(requests))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, req := range requests {
		wg.Add(1)
		go func() {
			defer wg.Done()
			vd := p.Probe(ctx, req.Image, req.Credential)
			mu.Lock()
			verdicts[req.Key] = vd
			mu.Unlock()
		}()
	}
	wg.Wait()
	return verdicts
}
