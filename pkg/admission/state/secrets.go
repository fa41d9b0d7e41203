package state

import (
	"sync"
	"sync/atomic"

	"github.com/pullguard/pullguard/pkg/registryauth"
)

// secretStore holds every namespace's parsed pull secrets and, per namespace, an index built
// on first use after a change. Changes cost a map write; lookups of an unchanged namespace
// cost an atomic load.
type secretStore struct {
	mu         sync.RWMutex
	namespaces map[string]*namespaceSecrets
	count      atomic.Int64
	onChange   func(namespace, name string)
}

type namespaceSecrets struct {
	mu       sync.Mutex
	secrets  map[string]*registryauth.PullSecret
	versions map[string]string                        // resourceVersion by name
	index    atomic.Pointer[registryauth.SecretIndex] // nil after a change
}

func newSecretStore() *secretStore {
	return &secretStore{namespaces: map[string]*namespaceSecrets{}}
}

func (s *secretStore) namespace(ns string, create bool) *namespaceSecrets {
	s.mu.RLock()
	n := s.namespaces[ns]
	s.mu.RUnlock()
	if n != nil || !create {
		return n
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if n = s.namespaces[ns]; n == nil {
		n = &namespaceSecrets{secrets: map[string]*registryauth.PullSecret{}, versions: map[string]string{}}
		s.namespaces[ns] = n
	}
	return n
}

// put stores a parsed secret at a resourceVersion and reports whether that changed anything.
func (s *secretStore) put(ns, version string, secret *registryauth.PullSecret) bool {
	n := s.namespace(ns, true)
	n.mu.Lock()
	if _, ok := n.secrets[secret.Name]; !ok {
		s.count.Add(1)
	} else if version != "" && n.versions[secret.Name] == version {
		n.mu.Unlock()
		return false
	}
	n.secrets[secret.Name] = secret
	n.versions[secret.Name] = version
	n.index.Store(nil)
	n.mu.Unlock()
	if s.onChange != nil {
		s.onChange(ns, secret.Name)
	}
	return true
}

func (s *secretStore) remove(ns, name string) {
	n := s.namespace(ns, false)
	if n == nil {
		return
	}
	n.mu.Lock()
	if _, ok := n.secrets[name]; ok {
		delete(n.secrets, name)
		delete(n.versions, name)
		s.count.Add(-1)
		n.index.Store(nil)
	}
	n.mu.Unlock()
	if s.onChange != nil {
		s.onChange(ns, name)
	}
}

// get returns one parsed secret.
func (s *secretStore) get(ns, name string) (*registryauth.PullSecret, bool) {
	n := s.namespace(ns, false)
	if n == nil {
		return nil, false
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	secret, ok := n.secrets[name]
	return secret, ok
}

// index returns the namespace's index, building it if the namespace changed since.
func (s *secretStore) index(ns string) *registryauth.SecretIndex {
	n := s.namespace(ns, false)
	if n == nil {
		return nil
	}
	if x := n.index.Load(); x != nil {
		return x
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if x := n.index.Load(); x != nil {
		return x
	}
	all := make([]*registryauth.PullSecret, 0, len(n.secrets))
	for _, secret := range n.secrets {
		all = append(all, secret)
	}
	x := registryauth.NewSecretIndex(all)
	n.index.Store(x)
	return x
}

// len returns the number of pull secrets cached.
func (s *secretStore) len() int { return int(s.count.Load()) }
