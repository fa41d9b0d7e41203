// Package memo holds a bounded, concurrency-safe memo keyed by strings, for values that
// are expensive to compute and never change for a key: parsed image references, and the
// routes of one immutable mirror configuration. It imports only sync and sync/atomic, so
// the pure packages may use it.
package memo

import (
	"sync"
	"sync/atomic"
)

// Memo is a bounded memo. Its zero value is empty and ready. When it holds limit entries
// it starts afresh, which keeps it simple and bounded while a cluster's working set (the
// same few images, pulled over and over) stays hot.
type Memo[V any] struct {
	m    atomic.Pointer[sync.Map]
	size atomic.Int64
}

// Get returns the value memoized for key.
func (c *Memo[V]) Get(key string) (V, bool) {
	var zero V
	m := c.m.Load()
	if m == nil {
		return zero, false
	}
	v, ok := m.Load(key)
	if !ok {
		return zero, false
	}
	return v.(V), true
}

// Put memoizes v for key, starting afresh first when the memo holds limit entries.
func (c *Memo[V]) Put(key string, v V, limit int64) {
	m := c.m.Load()
	if m == nil || c.size.Load() >= limit {
		m = &sync.Map{}
		c.m.Store(m)
		c.size.Store(0)
	}
	if _, loaded := m.LoadOrStore(key, v); !loaded {
		c.size.Add(1)
	}
}

// Len returns the number of entries memoized since the memo last started afresh (while
// Puts run concurrently, a count that may lag by a few).
func (c *Memo[V]) Len() int64 { return c.size.Load() }
