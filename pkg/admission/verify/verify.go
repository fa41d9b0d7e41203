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
// final pod's other images try it too). Two rounds settle every unmirrored pod seen so far;
// a third is the margin. A probe still unanswered after the last counts as unavailable.
//
// A decision with a mirrored image gets maxMirroredRounds: it asks one more endpoint per
// round (the runtime reaches an endpoint only once those before it failed, and pullguard
// never probes one it would not reach), so a route of mirrors, then the source, needs a
// round per endpoint it falls through. Rounds cost no more probes (MaxPerReview bounds
// them) and no more time (the budget does), but more rounds ask about more of an image's
// credentials: unmirrored decisions keep their three.
const (
	maxRounds         = 3
	maxMirroredRounds = 8
)

// Reasons of probes a review did not send: they are unavailable, and the namespace's failure
// policy decides their images.
// The decision knows them: a mirror probe not sent keeps the endpoints after it unasked.
const (
	ReasonTooMany   = decision.ReasonProbeLimit
	ReasonRateLimit = decision.ReasonProbeRate
)

// Asker answers the decision's access questions (pkg/admission/access).
type Asker interface {
	Ask(ctx context.Context, qs []decision.AccessQuestion) decision.Answers
}

// DockercfgWaiter waits for a service account to name its dockercfg secret, reporting
// whether it did within budget (pkg/admission/state).
type DockercfgWaiter interface {
	WaitForDockercfg(ctx context.Context, namespace, serviceAccount string, budget time.Duration) bool
}

// MaxQuestionsPerReview bounds the access reviews one admission review sends to the API
// server: a pod pulling from more projects of the internal registry than this is rare, and
// a hostile one must not become a thousand reviews. Questions past it are unavailable, and
// the namespace's failure policy decides their images.
const MaxQuestionsPerReview = 32

// ReasonTooManyQuestions is the reason of the questions past MaxQuestionsPerReview.
const ReasonTooManyQuestions = "too many access reviews in one request"

// DefaultDockercfgWait is how long a review waits for a service account's dockercfg
// secret to be named: OpenShift's controller names it within a second of creating the
// account, and the review must still answer well within the webhook's timeout.
const DefaultDockercfgWait = 2 * time.Second

// dockercfgReserve is what a review keeps, of its budget, for what comes after the wait:
// access reviews, registry probes and the answer.
const dockercfgReserve = time.Second

// Options are the I/O steps of a review.
type Options struct {
	// Prober, when set, verifies with the registries.
	Prober *probe.Prober
	// Budget bounds the whole review, waiting included.
	Budget time.Duration
	// Access, when set, answers the access questions of internal-registry images.
	Access Asker
	// Dockercfg, when set, waits up to DockercfgWait (default DefaultDockercfgWait, and
	// never into the last second of Budget) for a service account's dockercfg secret.
	Dockercfg     DockercfgWaiter
	DockercfgWait time.Duration
}

// Decide decides obj with f; with a prober it verifies within budget. It returns false for
// objects the core does not decide. The review sends at most the prober's MaxPerReview
// probes, the first ones in the decision's order, each within f.Namespace's probe rate;
// answers from the cache cost nothing.
func Decide(ctx context.Context, obj any, f *decision.Facts, p *probe.Prober, budget time.Duration) (*decision.Decision, bool) {
	return DecideWith(ctx, obj, f, Options{Prober: p, Budget: budget})
}

// DecideWith decides obj with f in rounds: decide, gather what the decision asked for
// (a service account's dockercfg secret, access answers, registry verdicts), decide
// again, all within o.Budget.
func DecideWith(ctx context.Context, obj any, f *decision.Facts, o Options) (*decision.Decision, bool) {
	p := o.Prober
	f.Verify = p != nil
	f.Verdicts, f.NotSent = nil, nil
	f.Answers = nil
	f.DockercfgWaited = o.Dockercfg == nil
	d, ok := decision.Decide(obj, f)
	if !ok || !pending(d, f) {
		return d, ok
	}
	budget := o.Budget
	if budget <= 0 {
		budget = 3 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	if len(d.AwaitDockercfg) > 0 && !f.DockercfgWaited {
		waitForDockercfg(ctx, o, f.Namespace, d.AwaitDockercfg)
		f.DockercfgWaited = true
		if d, _ = decision.Decide(obj, f); !pending(d, f) {
			return d, true
		}
	}
	var r *review
	if p != nil {
		r = &review{prober: p, namespace: f.Namespace, left: p.MaxPerReview()}
		f.Verdicts, f.NotSent = decision.Verdicts{}, map[registryauth.ProbeKey]bool{}
	}
	questionsLeft := MaxQuestionsPerReview
	if o.Access != nil {
		f.Answers = decision.Answers{}
	}
	rounds := maxRounds
	if d.Mirrored() {
		rounds = maxMirroredRounds
	}
	for round := 1; (len(d.Probes) > 0 && r != nil || len(d.Questions) > 0 && o.Access != nil) && round <= rounds && ctx.Err() == nil; round++ {
		var wg sync.WaitGroup
		var answers decision.Answers
		if len(d.Questions) > 0 && o.Access != nil {
			ask := d.Questions
			if len(ask) > questionsLeft {
				for _, q := range ask[max(questionsLeft, 0):] {
					f.Answers[q] = decision.AccessAnswer{Status: decision.AccessUnavailable, Reason: ReasonTooManyQuestions}
				}
				ask = ask[:max(questionsLeft, 0)]
			}
			questionsLeft -= len(ask)
			wg.Add(1)
			go func() {
				defer wg.Done()
				answers = o.Access.Ask(ctx, ask)
			}()
		}
		if len(d.Probes) > 0 && r != nil {
			r.probe(ctx, d.Probes, f)
		}
		wg.Wait()
		for q, a := range answers {
			f.Answers[q] = a
		}
		d, _ = decision.Decide(obj, f)
	}
	// Without an Asker, Answers stays nil and questions count as allowed: the caller does
	// not check access.
	return d, true
}

// pending reports whether the decision asked for anything.
func pending(d *decision.Decision, f *decision.Facts) bool {
	return len(d.Probes) > 0 || len(d.Questions) > 0 || len(d.AwaitDockercfg) > 0 && !f.DockercfgWaited
}

// waitForDockercfg waits, in parallel, for the accounts to name their dockercfg secret,
// within DockercfgWait and leaving dockercfgReserve of the review.
func waitForDockercfg(ctx context.Context, o Options, ns string, accounts []string) {
	wait := o.DockercfgWait
	if wait <= 0 {
		wait = DefaultDockercfgWait
	}
	if deadline, ok := ctx.Deadline(); ok {
		wait = min(wait, time.Until(deadline)-dockercfgReserve)
	}
	if wait <= 0 {
		return
	}
	var wg sync.WaitGroup
	for _, sa := range accounts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o.Dockercfg.WaitForDockercfg(ctx, ns, sa, wait)
		}()
	}
	wg.Wait()
}

// review holds what one review may still spend on probes, over all its rounds.
type review struct {
	prober    *probe.Prober
	namespace string
	left      int
}

// probe answers requests into f.Verdicts: from the cache, or by probing in parallel the
// first ones the review's and the namespace's limits allow (the rest are unavailable, and
// marked not sent). An answer that did not come in before ctx ended is left out; the
// decision treats it as unavailable.
func (r *review) probe(ctx context.Context, requests []decision.ProbeRequest, f *decision.Facts) {
	var send []decision.ProbeRequest
	for _, req := range requests {
		if vd, ok := r.prober.Cached(req.Image, req.Credential); ok {
			f.Verdicts[req.Key] = vd
			continue
		}
		switch {
		case r.left <= 0:
			notSent(f, req.Key, ReasonTooMany)
		case !r.prober.AllowNamespace(r.namespace):
			notSent(f, req.Key, ReasonRateLimit)
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
		f.Verdicts[req.Key] = answers[i]
	}
}

// notSent records a probe the review's limits did not send: unavailable for reason, and
// marked so the decision knows the registry was not asked.
func notSent(f *decision.Facts, key registryauth.ProbeKey, reason string) {
	f.Verdicts[key] = registryauth.Verdict{Status: registryauth.ProbeUnavailable, Reason: reason}
	f.NotSent[key] = true
}
