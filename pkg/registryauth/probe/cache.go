package probe

import (
	"time"

	"k8s.io/utils/lru"

	"github.com/pullguard/pullguard/pkg/registryauth"
)

// MaxCacheEntries bounds the verdict cache. An entry is a key (repository, reference,
// credential fingerprint) and a verdict of bounded size: a few hundred bytes, so the cache
// holds at most about 10 MiB. The least recently used entry goes first, so a flood of new
// images costs the cache its oldest answers, never all of them at once.
const MaxCacheEntries = 50000

// cache holds definite verdicts by probe key, least recently used evicted first.
type cache struct{ lru *lru.Cache }

type entry struct {
	verdict registryauth.Verdict
	fresh   time.Time // answers from the cache until then
	stale   time.Time // for a success: still admits until then if the registry is unavailable
}

func newCache(size int) cache { return cache{lru.New(size)} }

func (c cache) get(key registryauth.ProbeKey) (entry, bool) {
	v, ok := c.lru.Get(key)
	if !ok {
		return entry{}, false
	}
	return v.(entry), true
}

func (c cache) add(key registryauth.ProbeKey, e entry) { c.lru.Add(key, e) }
