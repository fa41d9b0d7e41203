package probe

import (
	"sync"

	"golang.org/x/time/rate"
	"k8s.io/utils/lru"
)

// Limits shared by every review. Answers from the cache cost nothing and count against none
// of them.
const (
	// DefaultMaxPerReview is how many probes one review may send (--verify-max-probes): a
	// pod with more distinct (image, credential) pairs than this is not normal, and one
	// request must not make pullguard open thousands of connections.
	DefaultMaxPerReview = 32
	// DefaultMaxInFlight bounds probes in flight across all reviews: each holds a connection,
	// a goroutine and at most a few tens of KiB of buffers. Four full reviews at once; past
	// it a probe is not sent (unavailable) rather than queued, so waiting costs nothing.
	DefaultMaxInFlight = 128
	// DefaultNamespaceRate and DefaultNamespaceBurst are each namespace's token bucket of
	// probes: a burst of one full review, then 5 a second. One namespace then holds at most
	// the burst plus 5/s times the probe timeout (about 60) of the in-flight cap, and the
	// other tenants keep the rest.
	DefaultNamespaceRate  = 5
	DefaultNamespaceBurst = DefaultMaxPerReview
	// maxNamespaces bounds the buckets kept: the least recently used go, and a forgotten
	// namespace starts again with a full burst.
	maxNamespaces = 10000
)

// namespaceRates holds a token bucket per namespace.
type namespaceRates struct {
	limit rate.Limit
	burst int

	mu      sync.Mutex
	buckets *lru.Cache
}

func newNamespaceRates(limit rate.Limit, burst int) *namespaceRates {
	return &namespaceRates{limit: limit, burst: burst, buckets: lru.New(maxNamespaces)}
}

// allow takes a token of namespace's bucket, reporting whether there was one.
func (n *namespaceRates) allow(namespace string) bool {
	n.mu.Lock()
	b, ok := n.buckets.Get(namespace)
	if !ok {
		b = rate.NewLimiter(n.limit, n.burst)
		n.buckets.Add(namespace, b)
	}
	n.mu.Unlock()
	return b.(*rate.Limiter).Allow()
}
