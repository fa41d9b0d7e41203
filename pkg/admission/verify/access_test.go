package verify_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/pullguard/pullguard/pkg/admission/decision"
	"github.com/pullguard/pullguard/pkg/admission/verify"
	"github.com/pullguard/pullguard/pkg/registryauth"
)

// refuser refuses every access question, recording them.
type refuser struct {
	mu    sync.Mutex
	asked []decision.AccessQuestion
}

func (r *refuser) Ask(_ context.Context, qs []decision.AccessQuestion) decision.Answers {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.asked = append(r.asked, qs...)
	out := decision.Answers{}
	for _, q := range qs {
		out[q] = decision.AccessAnswer{Status: decision.AccessRefused}
	}
	return out
}

// waiter records the budgets it is given and never sees a secret named.
type waiter struct{ budgets []time.Duration }

func (w *waiter) WaitForDockercfg(_ context.Context, _, _ string, budget time.Duration) bool {
	w.budgets = append(w.budgets, budget)
	return false
}

func internalFacts(t *testing.T) *decision.Facts {
	t.Helper()
	internal, err := registryauth.ParsePatterns("image-registry.openshift-image-registry.svc:5000")
	if err != nil {
		t.Fatal(err)
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Annotations: map[string]string{decision.PullSecretRefAnnotation: "default-dockercfg-x"}}}
	return &decision.Facts{Namespace: "team-a", InternalRegistries: internal, ServiceAccountApplied: true,
		ServiceAccounts: decision.ServiceAccountMap{"default": sa}}
}

// TestAccessQuestionsPerReview: one review asks at most MaxQuestionsPerReview access
// reviews; the images past them are undecided, saying why.
func TestAccessQuestionsPerReview(t *testing.T) {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "many", Namespace: "team-a"},
		Spec: corev1.PodSpec{ImagePullSecrets: []corev1.LocalObjectReference{{Name: "default-dockercfg-x"}}}}
	for i := range 40 {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: fmt.Sprintf("c%d", i), Image: fmt.Sprintf("image-registry.openshift-image-registry.svc:5000/p%d/app:1", i)})
	}
	r := &refuser{}
	d, _ := verify.DecideWith(context.Background(), p, internalFacts(t), verify.Options{Access: r, Budget: time.Second})
	if len(r.asked) != verify.MaxQuestionsPerReview {
		t.Errorf("asked %d questions, want %d", len(r.asked), verify.MaxQuestionsPerReview)
	}
	if n := d.Count(decision.Rejected); n != verify.MaxQuestionsPerReview {
		t.Errorf("%d rejected, want %d", n, verify.MaxQuestionsPerReview)
	}
	undecided := d.Undecided()
	if len(undecided) != 40-verify.MaxQuestionsPerReview || !strings.Contains(undecided[0].Message, verify.ReasonTooManyQuestions) {
		t.Errorf("%d undecided: %+v", len(undecided), undecided)
	}
}

// TestDockercfgWaitBudget: the wait for a service account's dockercfg secret lasts at most
// DefaultDockercfgWait and leaves a second of the review for what follows.
func TestDockercfgWaitBudget(t *testing.T) {
	for _, tt := range []struct {
		name   string
		budget time.Duration
		want   time.Duration
	}{
		{"the default wait within a 3 s review", 3 * time.Second, verify.DefaultDockercfgWait},
		{"a short review keeps a second for the rest", 1500 * time.Millisecond, 500 * time.Millisecond},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := internalFacts(t)
			f.ServiceAccounts = decision.ServiceAccountMap{"default": {ObjectMeta: metav1.ObjectMeta{Name: "default"}}}
			p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: "team-a"},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "image-registry.openshift-image-registry.svc:5000/team-a/app:1"}}}}
			w := &waiter{}
			d, _ := verify.DecideWith(context.Background(), p, f, verify.Options{Access: &refuser{}, Dockercfg: w, Budget: tt.budget})
			if len(w.budgets) != 1 || w.budgets[0] > tt.want || w.budgets[0] < tt.want-100*time.Millisecond {
				t.Errorf("waited with budgets %v, want about %s", w.budgets, tt.want)
			}
			if d.Count(decision.Missing) != 1 || !strings.Contains(d.Denial(), decision.NotReadyMessage) {
				t.Errorf("after the wait: %s", d.Denial())
			}
		})
	}
}
