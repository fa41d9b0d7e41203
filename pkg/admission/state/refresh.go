package state

import (
	"context"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/flowcontrol"
)

const (
	// refreshEvery is the least time between two lists of one namespace's pull secrets: a
	// tenant who creates pod after pod without a credential costs one list a second.
	refreshEvery = time.Second
	// refreshQPS and refreshBurst bound the lists of all namespaces together.
	refreshQPS, refreshBurst = 20, 40
	// refreshPage is the page size of a refresh list: a secret may be 1 MiB, and a page is
	// held in memory whole.
	refreshPage = 16
	// refreshRemembered is how many namespaces' last refresh times are kept before the old
	// ones are dropped.
	refreshRemembered = 4096
)

// Refresh reads the namespace's pull secrets from the API server into the cache and reports
// whether anything was new. Informer caches lag: a secret created a moment before a pod may
// not be cached yet, so a "no credential" answer is confirmed here before anything is
// denied. Only that failure path calls the API; concurrent refreshes of a namespace merge,
// and a namespace is listed at most once per refreshEvery (a refused refresh reports no
// change: the last one's result is in the cache). The list is paginated, and only adds what
// is newer than the cache: it never brings back a secret the watch saw deleted, nor replaces
// a version the watch delivered after the list was read.
func (s *State) Refresh(ctx context.Context, ns string) (bool, error) {
	v, err, _ := s.refresh.Do(ns, func() (any, error) {
		if !s.gate.allow(ns, time.Now()) {
			return false, nil
		}
		changed := false
		for _, typ := range []corev1.SecretType{corev1.SecretTypeDockerConfigJson, corev1.SecretTypeDockercfg} {
			opts := metav1.ListOptions{FieldSelector: "type=" + string(typ), Limit: refreshPage}
			for {
				list, err := s.client.CoreV1().Secrets(ns).List(ctx, opts)
				if err != nil {
					return changed, err
				}
				for i := range list.Items {
					secret := &list.Items[i]
					parse := func() cachedSecret { return s.secrets.parse(secret) }
					if s.secrets.putIfNewer(ns, secret.Name, secret.ResourceVersion, parse) {
						changed = true
					}
				}
				if list.Continue == "" {
					break
				}
				opts.Continue = list.Continue
			}
		}
		return changed, nil
	})
	if err != nil {
		return false, err
	}
	return v.(bool), nil
}

// refreshGate rate-limits refreshes, per namespace and overall. The zero value is ready.
type refreshGate struct {
	mu     sync.Mutex
	last   map[string]time.Time
	global flowcontrol.RateLimiter
}

func (g *refreshGate) allow(ns string, now time.Time) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.last == nil {
		g.last = map[string]time.Time{}
		g.global = flowcontrol.NewTokenBucketRateLimiter(refreshQPS, refreshBurst)
	}
	if t, ok := g.last[ns]; ok && now.Sub(t) < refreshEvery {
		return false
	}
	if !g.global.TryAccept() {
		return false
	}
	if len(g.last) >= refreshRemembered {
		for name, t := range g.last {
			if now.Sub(t) >= refreshEvery {
				delete(g.last, name)
			}
		}
	}
	g.last[ns] = now
	return true
}
