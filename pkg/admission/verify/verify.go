// Package verify runs a decision with registry verification (SPEC section 6): decide once
// to learn which probes are needed, run them in parallel within the review's budget and
// limits, and decide again with the answers. The decision core stays pure; this is the I/O
// between its passes.
package verify

import (
	"context"
	"sync"
	"time"

	"github.com/pullguard/pullguard/pkg/admission/decision"
	"github.com/pullguard/pullguard/pkg/registryauth"
	"github.com/pullguard/pullguard/pkg/registryauth/probe"
)

// maxRounds bounds the decide-probe rounds of one review. The first round plans the probes of
// the kubelet's first choices; a later round asks about credentials that only became the
// kubelet's choice once the registry refused another (a different secret injected, so the
// final pod's other images try it too). Two rounds settle every pod seen so far; the third
// is a margin, and a probe still unanswered after it counts as unavailable.
const maxRounds = 3

// Reasons of probes a review did not send: they are unavailable, and the namespace's failure
// policy decides their images.
const (
	ReasonTooMany   = "too many registries to verify in one request"
	ReasonRateLimit = "probe rate limit of the namespace reached"
)

// Decide decides obj with f; with a prober it verifies within budget. It returns false for
// objects the core does not decide. The review sends at most the prober's MaxPerReview
// probes, the first ones in the decision's order, each within f.Namespace's probe rate;
// answers from the cache cost nothing.
func Decide(ctx context.Context, obj any, f *decision.Facts, p *probe.Prober, budget time.Duration) (*decision.Decision, bool) {
	f.Verify = p != nil
	f.Verdicts = nil
	d, ok := decision.Decide(obj, f)
	if !ok || len(d.Probes) == 0 {
		return d, ok
	}
	ctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	r := &review{prober: p, namespace: f.Namespace, left: p.MaxPerReview()}
	f.Verdicts = decision.Verdicts{}
	for round := 1; len(d.Probes) > 0 && round <= maxRounds && ctx.Err() == nil; round++ {
		for key, vd := range r.probe(ctx, d.Probes) {
			f.Verdicts[key] = vd
		}
		d, _ = decision.Decide(obj, f)
	}
	return d, true
}

// review holds what one review may still spend on probes, over all its rounds.
type review struct {
	prober    *probe.Prober
	namespace string
	left      int
}

// probe answers requests: from the cache, or by probing in parallel the first ones the
// review's and the namespace's limits allow (the rest are unavailable). An answer that did
// not come in before ctx ended is left out; the decision treats it as unavailable.
func (r *review) probe(ctx context.Context, requests []decision.ProbeRequest) decision.Verdicts {
	verdicts := make(decision.Verdicts, len(requests))
	var send []decision.ProbeRequest
	for _, req := range requests {
		if vd, ok := r.prober.Cached(req.Image, req.Credential); ok {
			verdicts[req.Key] = vd
			continue
		}
		switch {
		case r.left <= 0:
			verdicts[req.Key] = notSent(ReasonTooMany)
		case !r.prober.AllowNamespace(r.namespace):
			verdicts[req.Key] = notSent(ReasonRateLimit)
		default:
			r.left--
			send = append(send, req)
		}
	}
	answers := make([]registryauth.Verdict, len(send))
	var wg sync.WaitGroup
	for i, req := range send {
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers[i] = r.prober.Probe(ctx, req.Image, req.Credential)
		}()
	}
	wg.Wait()
	for i, req := range send {
		verdicts[req.Key] = answers[i]
	}
	return verdicts
}

func notSent(reason string) registryauth.Verdict {
	return registryauth.Verdict{Status: registryauth.ProbeUnavailable, Reason: reason}
}
