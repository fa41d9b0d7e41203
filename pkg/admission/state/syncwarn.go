package state

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
)

// Until the caches hold their initial lists, every review meets the failure policy, so an
// admin must hear why: a list refused (RBAC), an API server refusing connections, or one
// that never answers (client-go's list has no timeout of its own, and a dial to an
// unreachable address takes 30 s to fail, so errors alone can stay silent for that long).
const (
	// defaultSyncWarnAfter is the first warning's delay: a healthy start syncs well within
	// it (under a second for 10,000 pull secrets, docs/performance.md).
	defaultSyncWarnAfter = 5 * time.Second
	// maxSyncWarnInterval caps the backoff between warnings.
	maxSyncWarnInterval = time.Minute
)

// syncErrors keeps the last list or watch error of each cache, for the warnings.
type syncErrors struct {
	mu   sync.Mutex
	last map[string]error
}

func (e *syncErrors) record(cacheName string, err error) {
	if err == nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.last == nil {
		e.last = map[string]error{}
	}
	e.last[cacheName] = err
}

func (e *syncErrors) get(cacheName string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.last[cacheName]
}

// recordListWatch records the errors of a reflector's lists and watches. It wraps the
// functions of a *cache.ListWatch in place, so the reflector sees the same type.
func (e *syncErrors) recordListWatch(cacheName string, lw cache.ListerWatcher) cache.ListerWatcher {
	l, ok := lw.(*cache.ListWatch)
	if !ok {
		return lw
	}
	if list := l.ListWithContextFunc; list != nil {
		l.ListWithContextFunc = func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			obj, err := list(ctx, o)
			e.record(cacheName, err)
			return obj, err
		}
	}
	if w := l.WatchFuncWithContext; w != nil {
		l.WatchFuncWithContext = func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			wi, err := w(ctx, o)
			e.record(cacheName, err)
			return wi, err
		}
	}
	return l
}

// recordInformer records the errors of an informer's reflector, and still logs them as
// client-go would.
func (e *syncErrors) recordInformer(cacheName string, inf cache.SharedIndexInformer) {
	_ = inf.SetWatchErrorHandlerWithContext(func(ctx context.Context, r *cache.Reflector, err error) {
		e.record(cacheName, err)
		cache.DefaultWatchErrorHandler(ctx, r, err)
	})
}

// namedSync is a cache's sync check under the name warnings give it.
type namedSync struct {
	name   string
	synced cache.InformerSynced
}

// warnUntilSynced logs at warn, after start and then with a doubling interval up to
// maxSyncWarnInterval, which caches are not synced yet and why, until they are or ctx
// ends.
func (s *State) warnUntilSynced(ctx context.Context, after time.Duration) {
	start := time.Now()
	wait := after
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		if s.Synced() {
			return
		}
		var waiting, reasons []string
		byReason := map[string][]string{}
		for _, c := range s.named {
			if c.synced() {
				continue
			}
			waiting = append(waiting, c.name)
			if err := s.syncErrs.get(c.name); err != nil {
				r := reasonOf(err)
				if _, seen := byReason[r]; !seen {
					reasons = append(reasons, r)
				}
				byReason[r] = append(byReason[r], c.name)
			}
		}
		if len(waiting) == 0 {
			// Every cache has its list; the state is marked synced a moment later.
			wait = min(2*wait, maxSyncWarnInterval)
			continue
		}
		why := "no answer from the API server yet"
		if len(reasons) > 0 {
			parts := make([]string, len(reasons))
			for i, r := range reasons {
				parts[i] = r + " (" + strings.Join(byReason[r], ", ") + ")"
			}
			why = strings.Join(parts, "; ")
		}
		s.log.Warn("caches not synced: reviews meet each namespace's failure policy until they are",
			"waiting", time.Since(start).Round(time.Second).String(), "caches", waiting, "apiServer", s.apiServer(), "reason", why)
		wait = min(2*wait, maxSyncWarnInterval)
	}
}

// reasonOf says why a list or watch failed, without the request's URL (apiServer names the
// server): the caches failing for one reason share it.
func reasonOf(err error) string {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		return uerr.Err.Error()
	}
	return err.Error()
}

// apiServer names the API server the caches list from, for the warnings.
func (s *State) apiServer() string {
	rc, ok := s.client.CoreV1().RESTClient().(*rest.RESTClient)
	if !ok || rc == nil {
		return "" // a fake clientset in tests
	}
	return rc.Get().URL().Host
}
