package probe

import (
	"context"
	"sync"
)

// slots bounds the probes in flight to each registry. A registry's slots exist while a probe
// uses or waits for them, so many registry names (one pod can name thousands) leave nothing
// behind.
type slots struct {
	per int

	mu sync.Mutex
	m  map[string]*slot
}

type slot struct {
	ch    chan struct{}
	users int // probes holding or waiting for a slot
}

func newSlots(per int) *slots { return &slots{per: per, m: map[string]*slot{}} }

// acquire waits for a slot of registry until ctx ends; it returns the function that frees
// the slot, or false.
func (s *slots) acquire(ctx context.Context, registry string) (func(), bool) {
	s.mu.Lock()
	sl, ok := s.m[registry]
	if !ok {
		sl = &slot{ch: make(chan struct{}, s.per)}
		s.m[registry] = sl
	}
	sl.users++
	s.mu.Unlock()
	select {
	case sl.ch <- struct{}{}:
		return func() { <-sl.ch; s.leave(registry, sl) }, true
	case <-ctx.Done():
		s.leave(registry, sl)
		return nil, false
	}
}

func (s *slots) leave(registry string, sl *slot) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sl.users--; sl.users == 0 {
		delete(s.m, registry)
	}
}

// registries returns how many registries have slots, for tests.
func (s *slots) registries() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}
