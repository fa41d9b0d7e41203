package access

import (
	"context"
	"errors"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/pullguard/pullguard/pkg/admission/decision"
)

// Cache lifetimes. An allowed answer is kept a few seconds: a deployment's pods ask the
// same question at once. A refusal is kept about a second only: a user who runs the
// suggested `oc policy add-role-to-user` and applies again at once must be admitted.
const (
	DefaultAllowedTTL = 5 * time.Second
	DefaultRefusedTTL = time.Second
	// DefaultTimeout bounds one review; the admission request's own budget usually ends
	// it sooner.
	DefaultTimeout = 2 * time.Second
	// maxEntries bounds the cache: past it, expired answers are dropped, then all.
	maxEntries = 10000
)

// CreateFunc creates a SubjectAccessReview: the API server's, or a test's.
type CreateFunc func(ctx context.Context, sar *authorizationv1.SubjectAccessReview) (*authorizationv1.SubjectAccessReview, error)

// Options tune a Reviewer; zero values take the defaults.
type Options struct {
	AllowedTTL time.Duration
	RefusedTTL time.Duration
	Timeout    time.Duration
}

// Reviewer asks the API server access questions with SubjectAccessReviews.
type Reviewer struct {
	create CreateFunc
	opts   Options
	now    func() time.Time

	flight singleflight.Group
	mu     sync.Mutex
	cache  map[decision.AccessQuestion]entry
}

type entry struct {
	answer  decision.AccessAnswer
	expires time.Time
}

// New returns a Reviewer asking through client: the server's client, whose requests
// pullguard_kube_api_requests_total counts.
func New(client kubernetes.Interface, o Options) *Reviewer {
	sars := client.AuthorizationV1().SubjectAccessReviews()
	return NewWith(func(ctx context.Context, sar *authorizationv1.SubjectAccessReview) (*authorizationv1.SubjectAccessReview, error) {
		return sars.Create(ctx, sar, metav1.CreateOptions{})
	}, o)
}

// NewWith returns a Reviewer asking through create.
func NewWith(create CreateFunc, o Options) *Reviewer {
	if o.AllowedTTL <= 0 {
		o.AllowedTTL = DefaultAllowedTTL
	}
	if o.RefusedTTL <= 0 {
		o.RefusedTTL = DefaultRefusedTTL
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	return &Reviewer{create: create, opts: o, now: time.Now, cache: map[decision.AccessQuestion]entry{}}
}

// Ask answers the questions in parallel, from the cache where it can. A question whose
// review did not come back before ctx ended is left out: the decision counts it as
// unavailable.
func (r *Reviewer) Ask(ctx context.Context, qs []decision.AccessQuestion) decision.Answers {
	answers := make([]decision.AccessAnswer, len(qs))
	done := make([]bool, len(qs))
	var wg sync.WaitGroup
	for i, q := range qs {
		if a, ok := r.cached(q); ok {
			answers[i], done[i] = a, true
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers[i], done[i] = r.ask(ctx, q)
		}()
	}
	wg.Wait()
	out := make(decision.Answers, len(qs))
	for i, q := range qs {
		if done[i] {
			out[q] = answers[i]
		}
	}
	return out
}

func (r *Reviewer) cached(q decision.AccessQuestion) (decision.AccessAnswer, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.cache[q]
	if !ok || !r.now().Before(e.expires) {
		return decision.AccessAnswer{}, false
	}
	return e.answer, true
}

// ask sends one review, merged with identical ones in flight. The review runs on its own
// deadline, not the first asker's: another review waiting on it may have longer.
func (r *Reviewer) ask(ctx context.Context, q decision.AccessQuestion) (decision.AccessAnswer, bool) {
	ch := r.flight.DoChan(q.String(), func() (any, error) {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.opts.Timeout)
		defer cancel()
		a := r.review(rctx, q)
		if a.Status != decision.AccessUnavailable {
			r.store(q, a)
		}
		return a, nil
	})
	select {
	case res := <-ch:
		return res.Val.(decision.AccessAnswer), true
	case <-ctx.Done():
		return decision.AccessAnswer{}, false
	}
}

// Review returns the SubjectAccessReview the registry makes for q.
func Review(q decision.AccessQuestion) *authorizationv1.SubjectAccessReview {
	return &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User:   q.User(),
		Groups: q.Groups(),
		ResourceAttributes: &authorizationv1.ResourceAttributes{
			Namespace:   q.Project,
			Verb:        q.Verb,
			Group:       decision.ImageAPIGroup,
			Resource:    decision.ImageStreamResource,
			Subresource: decision.LayersSubresource,
		},
	}}
}

func (r *Reviewer) review(ctx context.Context, q decision.AccessQuestion) decision.AccessAnswer {
	got, err := r.create(ctx, Review(q))
	if err != nil {
		return decision.AccessAnswer{Status: decision.AccessUnavailable, Reason: failure(err)}
	}
	if got.Status.Allowed {
		return decision.AccessAnswer{Status: decision.AccessAllowed}
	}
	reason := got.Status.Reason
	if reason == "" {
		reason = "no role binding allows it"
	}
	return decision.AccessAnswer{Status: decision.AccessRefused, Reason: reason}
}

// failure words a failed review coarsely: the API server's status reason, or that it
// could not be reached.
func failure(err error) string {
	var status apierrors.APIStatus
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "the access review timed out"
	case apierrors.IsForbidden(err):
		return "pullguard may not create subjectaccessreviews (check its RBAC)"
	case errors.As(err, &status):
		return "the access review failed: " + string(status.Status().Reason)
	}
	return "the API server could not be reached for the access review"
}

func (r *Reviewer) store(q decision.AccessQuestion, a decision.AccessAnswer) {
	ttl := r.opts.AllowedTTL
	if a.Status != decision.AccessAllowed {
		ttl = r.opts.RefusedTTL
	}
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.cache) >= maxEntries {
		for k, e := range r.cache {
			if !now.Before(e.expires) {
				delete(r.cache, k)
			}
		}
		if len(r.cache) >= maxEntries {
			clear(r.cache)
		}
	}
	r.cache[q] = entry{answer: a, expires: now.Add(ttl)}
}
