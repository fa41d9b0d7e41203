package registryauth

import (
	"sync"
	"sync/atomic"
)

// imageMemoSize bounds the parsed-reference memo; when full it starts afresh, which keeps
// it simple and bounded while the working set of a cluster's images stays hot.
const imageMemoSize = 16384

var images = &imageMemo{}

// imageMemo is a bounded, concurrency-safe memo of parsed image references.
type imageMemo struct {
	m    atomic.Pointer[sync.Map]
	size atomic.Int64
}

func (c *imageMemo) get(ref string) (Image, bool) {
	m := c.m.Load()
	if m == nil {
		return Image{}, false
	}
	v, ok := m.Load(ref)
	if !ok {
		return Image{}, false
	}
	return v.(Image), true
}

func (c *imageMemo) put(ref string, img Image) {
	m := c.m.Load()
	if m == nil || c.size.Load() >= imageMemoSize {
		m = &sync.Map{}
		c.m.Store(m)
		c.size.Store(0)
	}
	if _, loaded := m.LoadOrStore(ref, img); !loaded {
		c.size.Add(1)
	}
}
