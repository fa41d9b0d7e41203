package state

import (
	"sync"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"

	"github.com/pullguard/pullguard/pkg/registryauth"
)

// secretSink is the store of a reflector of one pull secret type. It parses each secret as
// it arrives and keeps only the parsed form in the shared secretStore: no copy of the
// Secret objects stays in memory, so the cache holds just what matching and probing need
// (and the garbage collector has that much less to scan on every cycle).
type secretSink struct {
	store  *secretStore
	mu     sync.Mutex
	keys   map[types.NamespacedName]struct{} // what this sink put, for Replace
	synced atomic.Bool
}

var _ cache.ReflectorStore = (*secretSink)(nil)

func newSecretSink(store *secretStore) *secretSink {
	return &secretSink{store: store, keys: map[types.NamespacedName]struct{}{}}
}

// Add stores a secret.
func (k *secretSink) Add(obj any) error { return k.Update(obj) }

// Update stores a secret.
func (k *secretSink) Update(obj any) error {
	s, ok := obj.(*corev1.Secret)
	if !ok {
		return nil
	}
	k.store.put(s.Namespace, s.ResourceVersion, registryauth.ParseSecret(s.Name, s.Type, s.Data))
	k.mu.Lock()
	k.keys[types.NamespacedName{Namespace: s.Namespace, Name: s.Name}] = struct{}{}
	k.mu.Unlock()
	return nil
}

// Delete forgets a secret.
func (k *secretSink) Delete(obj any) error {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	s, ok := obj.(*corev1.Secret)
	if !ok {
		return nil
	}
	k.store.remove(s.Namespace, s.Name)
	k.mu.Lock()
	delete(k.keys, types.NamespacedName{Namespace: s.Namespace, Name: s.Name})
	k.mu.Unlock()
	return nil
}

// Replace takes a full list: stores it, forgets what this sink had that is gone, and marks
// the sink synced.
func (k *secretSink) Replace(items []any, _ string) error {
	seen := make(map[types.NamespacedName]struct{}, len(items))
	for _, item := range items {
		if s, ok := item.(*corev1.Secret); ok {
			k.Update(s)
			seen[types.NamespacedName{Namespace: s.Namespace, Name: s.Name}] = struct{}{}
		}
	}
	k.mu.Lock()
	var gone []types.NamespacedName
	for key := range k.keys {
		if _, ok := seen[key]; !ok {
			gone = append(gone, key)
			delete(k.keys, key)
		}
	}
	k.mu.Unlock()
	for _, key := range gone {
		k.store.remove(key.Namespace, key.Name)
	}
	k.synced.Store(true)
	return nil
}

// Resync does nothing: there is no resync period.
func (k *secretSink) Resync() error { return nil }
