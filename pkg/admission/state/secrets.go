package state

import (
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/pullguard/pullguard/pkg/admission/decision"
	"github.com/pullguard/pullguard/pkg/registryauth"
)

// tombstoneTTL is how long a deleted secret's name and deletion resourceVersion are kept,
// so that a Refresh whose list started before the deletion cannot bring the secret back.
// A list outliving it would have to take minutes: it is paginated and bounded by its
// request's context (the review's, a few seconds).
const tombstoneTTL = 2 * time.Minute

// secretStore holds every namespace's parsed pull secrets and, per namespace, an index built
// on first use after a change. Changes cost a map write; lookups of an unchanged namespace
// cost an atomic load.
type secretStore struct {
	mu         sync.RWMutex
	namespaces map[string]*namespaceSecrets
	count      atomic.Int64
	onChange   func(namespace, name string)
	now        func() time.Time
	// nodeSecrets are the --node-credentials secrets, the only ones also read as CRI-O's
	// auth file (authFile).
	nodeSecrets []types.NamespacedName
}

type namespaceSecrets struct {
	mu         sync.Mutex
	secrets    map[string]cachedSecret
	tombstones map[string]tombstone
	index      atomic.Pointer[registryauth.SecretIndex] // nil after a change
}

// cachedSecret is a parsed secret and the resourceVersion it was parsed at.
type cachedSecret struct {
	secret *registryauth.PullSecret
	// authFile is a --node-credentials secret read as CRI-O reads its auth file
	// (decision.Facts.NodeAuthFile); nil for every other secret.
	authFile *registryauth.PullSecret
	version  string
}

// tombstone remembers a deletion: its resourceVersion and when it was seen.
type tombstone struct {
	version string
	at      time.Time
}

func newSecretStore() *secretStore {
	return &secretStore{namespaces: map[string]*namespaceSecrets{}, now: time.Now}
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
		n = &namespaceSecrets{secrets: map[string]cachedSecret{}}
		s.namespaces[ns] = n
	}
	return n
}

// cached returns a secret as cached, with its resourceVersion.
func (s *secretStore) cached(ns, name string) (cachedSecret, bool) {
	n := s.namespace(ns, false)
	if n == nil {
		return cachedSecret{}, false
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	c, ok := n.secrets[name]
	return c, ok
}

// parse reads a secret as the kubelet does, with the service account whose token it
// carries, and a --node-credentials secret as CRI-O's auth file too: the watch and Refresh
// store the same reading, so a secret a review's Refresh stored first, which the watch
// then delivers at the same resourceVersion, is not kept without its account.
func (s *secretStore) parse(secret *corev1.Secret) cachedSecret {
	p := parseSecret(secret.Name, secret.Type, secret.Data)
	p.ServiceAccount = decision.SecretServiceAccount(secret.Annotations)
	return cachedSecret{secret: p, authFile: s.authFile(secret)}
}

// authFile reads a --node-credentials secret as CRI-O reads its auth file, and returns nil
// for any other: the nodes hold only those few secrets, so only they are parsed twice.
func (s *secretStore) authFile(secret *corev1.Secret) *registryauth.PullSecret {
	ref := types.NamespacedName{Namespace: secret.Namespace, Name: secret.Name}
	if !slices.Contains(s.nodeSecrets, ref) {
		return nil
	}
	return registryauth.ParseSecretAuthFile(ref.String(), secret.Type, secret.Data)
}

// put stores a parsed secret (and its authFile reading) at a resourceVersion, as the watch
// delivers it, and reports whether that changed anything.
func (s *secretStore) put(ns, name, version string, secret, authFile *registryauth.PullSecret) bool {
	return s.store(ns, name, version, false, func() cachedSecret { return cachedSecret{secret: secret, authFile: authFile} })
}

// putIfNewer stores a secret read outside the watch (Refresh): only one newer than what the
// cache holds, and never one the watch has seen deleted at a later resourceVersion. It
// parses the secret only if it is stored.
func (s *secretStore) putIfNewer(ns, name, version string, parse func() cachedSecret) bool {
	return s.store(ns, name, version, true, parse)
}

func (s *secretStore) store(ns, name, version string, onlyNewer bool, parse func() cachedSecret) bool {
	n := s.namespace(ns, true)
	n.mu.Lock()
	old, cached := n.secrets[name]
	stale := false
	switch {
	case cached && version != "" && old.version == version:
		stale = true
	case onlyNewer && cached:
		stale = !newer(version, old.version)
	case onlyNewer:
		t, ok := n.tombstones[name]
		stale = ok && s.now().Sub(t.at) < tombstoneTTL && !newer(version, t.version)
	}
	if stale {
		n.mu.Unlock()
		return false
	}
	if !cached {
		s.count.Add(1)
	}
	delete(n.tombstones, name)
	c := parse()
	c.version = version
	n.secrets[name] = c
	n.index.Store(nil)
	n.mu.Unlock()
	if s.onChange != nil {
		s.onChange(ns, name)
	}
	return true
}

// remove forgets a secret the watch saw deleted at version, keeping a tombstone.
func (s *secretStore) remove(ns, name, version string) {
	n := s.namespace(ns, false)
	if n == nil {
		return
	}
	now := s.now()
	n.mu.Lock()
	if _, ok := n.secrets[name]; ok {
		delete(n.secrets, name)
		s.count.Add(-1)
		n.index.Store(nil)
	}
	for old, t := range n.tombstones {
		if now.Sub(t.at) >= tombstoneTTL {
			delete(n.tombstones, old)
		}
	}
	if n.tombstones == nil {
		n.tombstones = map[string]tombstone{}
	}
	n.tombstones[name] = tombstone{version: version, at: now}
	n.mu.Unlock()
	if s.onChange != nil {
		s.onChange(ns, name)
	}
}

// newer reports whether resourceVersion a is later than b. Kubernetes resourceVersions are
// etcd revisions; one that is not a number is never taken as newer.
func newer(a, b string) bool {
	x, errA := strconv.ParseUint(a, 10, 64)
	y, errB := strconv.ParseUint(b, 10, 64)
	return errA == nil && errB == nil && x > y
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
	for _, c := range n.secrets {
		all = append(all, c.secret)
	}
	x := registryauth.NewSecretIndex(all)
	n.index.Store(x)
	return x
}

// len returns the number of pull secrets cached.
func (s *secretStore) len() int { return int(s.count.Load()) }
