package access

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"

	"github.com/pullguard/pullguard/pkg/admission/decision"
)

var pull = decision.AccessQuestion{Namespace: "team-a", ServiceAccount: "default", Project: "team-b", Verb: "get"}

// authorizer answers reviews from a set of allowed users, counting them; it stands in for
// the API server in tests of the cache, never of the review itself (the integration suite
// asks a real API server).
type authorizer struct {
	mu      sync.Mutex
	allowed map[string]bool
	calls   atomic.Int32
	gate    chan struct{} // when set, each review waits for it
	err     error
}

func (a *authorizer) create(ctx context.Context, sar *authorizationv1.SubjectAccessReview) (*authorizationv1.SubjectAccessReview, error) {
	a.calls.Add(1)
	if a.gate != nil {
		select {
		case <-a.gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if a.err != nil {
		return nil, a.err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	out := sar.DeepCopy()
	out.Status.Allowed = a.allowed[sar.Spec.User+" "+sar.Spec.ResourceAttributes.Namespace]
	return out, nil
}

func (a *authorizer) allow(user, ns string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.allowed[user+" "+ns] = true
}

func TestReviewerCaches(t *testing.T) {
	tests := []struct {
		name      string
		allowAt   time.Duration // when the binding appears (<0: from the start; 0: never)
		asks      []time.Duration
		want      []decision.AccessStatus
		wantCalls int32
	}{
		{"an allowed answer is kept a few seconds", -1, []time.Duration{0, 4 * time.Second}, []decision.AccessStatus{decision.AccessAllowed, decision.AccessAllowed}, 1},
		{"an allowed answer expires", -1, []time.Duration{0, 6 * time.Second}, []decision.AccessStatus{decision.AccessAllowed, decision.AccessAllowed}, 2},
		{"a refusal is kept under a second", 0, []time.Duration{0, 500 * time.Millisecond}, []decision.AccessStatus{decision.AccessRefused, decision.AccessRefused}, 1},
		{"the fix applied: asked again after a second and allowed", 800 * time.Millisecond, []time.Duration{0, 1100 * time.Millisecond}, []decision.AccessStatus{decision.AccessRefused, decision.AccessAllowed}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := &authorizer{allowed: map[string]bool{}}
			if tt.allowAt < 0 {
				a.allow(pull.User(), pull.Project)
			}
			r := NewWith(a.create, Options{})
			start := time.Unix(1_000_000, 0)
			for i, at := range tt.asks {
				if tt.allowAt > 0 && at >= tt.allowAt {
					a.allow(pull.User(), pull.Project)
				}
				r.now = func() time.Time { return start.Add(at) }
				got := r.Ask(context.Background(), []decision.AccessQuestion{pull})[pull]
				if got.Status != tt.want[i] {
					t.Errorf("ask %d at %s: %+v, want status %d", i, at, got, tt.want[i])
				}
			}
			if n := a.calls.Load(); n != tt.wantCalls {
				t.Errorf("%d reviews, want %d", n, tt.wantCalls)
			}
		})
	}
}

func TestReviewerMergesIdenticalQuestions(t *testing.T) {
	a := &authorizer{allowed: map[string]bool{}, gate: make(chan struct{})}
	a.allow(pull.User(), pull.Project)
	r := NewWith(a.create, Options{})
	var wg sync.WaitGroup
	results := make([]decision.AccessAnswer, 20)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = r.Ask(context.Background(), []decision.AccessQuestion{pull})[pull]
		}()
	}
	// Let the reviews pile up on the first, then answer it.
	for a.calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	close(a.gate)
	wg.Wait()
	for i, res := range results {
		if res.Status != decision.AccessAllowed {
			t.Errorf("asker %d: %+v", i, res)
		}
	}
	if n := a.calls.Load(); n != 1 {
		t.Errorf("%d reviews for 20 identical questions, want 1", n)
	}
}

func TestReviewerFailures(t *testing.T) {
	t.Run("an error is unavailable, worded coarsely, and not cached", func(t *testing.T) {
		a := &authorizer{allowed: map[string]bool{}, err: errors.New("dial tcp 10.0.0.1:6443: connection refused")}
		r := NewWith(a.create, Options{})
		for range 2 {
			got := r.Ask(context.Background(), []decision.AccessQuestion{pull})[pull]
			if got.Status != decision.AccessUnavailable || got.Reason != "the API server could not be reached for the access review" {
				t.Errorf("got %+v", got)
			}
		}
		if n := a.calls.Load(); n != 2 {
			t.Errorf("%d reviews, want 2 (errors are not cached)", n)
		}
	})
	t.Run("a review not back when the request ends is left out", func(t *testing.T) {
		a := &authorizer{allowed: map[string]bool{}, gate: make(chan struct{})}
		defer close(a.gate)
		r := NewWith(a.create, Options{})
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		if got := r.Ask(ctx, []decision.AccessQuestion{pull}); len(got) != 0 {
			t.Errorf("got %+v, want no answer", got)
		}
	})
}

func TestReview(t *testing.T) {
	sar := Review(decision.AccessQuestion{Namespace: "a", ServiceAccount: "builder", Project: "b", Verb: "update"})
	s := sar.Spec
	ra := s.ResourceAttributes
	if s.User != "system:serviceaccount:a:builder" || len(s.Groups) != 3 || s.Groups[1] != "system:serviceaccounts:a" ||
		ra.Namespace != "b" || ra.Verb != "update" || ra.Group != "image.openshift.io" || ra.Resource != "imagestreams" || ra.Subresource != "layers" {
		t.Errorf("review %+v %+v", s, ra)
	}
}
