package state

import (
	"context"
	"sync"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/pullguard/pullguard/pkg/registryauth"
)

// secretSink is the store of a reflector of one pull secret type. It parses each secret as
// it arrives and keeps only the parsed form in the shared secretStore: no copy of the
// Secret objects stays in memory, so the cache holds just what matching and probing need
// (and the garbage collector has that much less to scan on every cycle).
//
// It is also a cache.TransformingStore: the reflector's initial list streams every secret
// of the cluster (client-go's WatchList, on by default since 1.35 and served by API servers
// since 1.34) into a temporary store before handing it over in one Replace, and the
// transform shrinks each Secret to its parsed form on arrival, so the whole list of Secret
// objects is never held at once. A secret is parsed once per resourceVersion: one the store
// already holds at that version is not parsed again (relists, restarted watches).
type secretSink struct {
	store  *secretStore
	mu     sync.Mutex
	keys   map[types.NamespacedName]struct{} // what this sink put, for Replace
	synced atomic.Bool
}

var _ cache.TransformingStore = (*secretSink)(nil)

func newSecretSink(store *secretStore) *secretSink {
	return &secretSink{store: store, keys: map[types.NamespacedName]struct{}{}}
}

// parsedSecret is what the reflector's temporary store holds of a secret: its identity and
// its parsed form. It carries just enough metadata for the store's key function.
type parsedSecret struct {
	metav1.TypeMeta
	metav1.ObjectMeta
	secret   *registryauth.PullSecret
	authFile *registryauth.PullSecret // a --node-credentials secret's (secretStore.authFile)
}

func (p *parsedSecret) DeepCopyObject() runtime.Object { return p } // immutable

// Transformer implements cache.TransformingStore.
func (k *secretSink) Transformer() cache.TransformFunc { return k.transform }

func (k *secretSink) transform(obj any) (any, error) {
	if s, ok := obj.(*corev1.Secret); ok {
		return k.parse(s), nil
	}
	return obj, nil
}

// parseSecret parses a secret; a variable so tests can count the parses.
var parseSecret = registryauth.ParseSecret[corev1.SecretType]

// parse returns a secret's parsed form, reusing the cached one at the same resourceVersion.
func (k *secretSink) parse(s *corev1.Secret) *parsedSecret {
	p := &parsedSecret{ObjectMeta: metav1.ObjectMeta{Namespace: s.Namespace, Name: s.Name, ResourceVersion: s.ResourceVersion}}
	if c, ok := k.store.cached(s.Namespace, s.Name); ok && s.ResourceVersion != "" && c.version == s.ResourceVersion {
		p.secret, p.authFile = c.secret, c.authFile
	} else {
		c := k.store.parse(s)
		p.secret, p.authFile = c.secret, c.authFile
	}
	return p
}

// Add stores a secret.
func (k *secretSink) Add(obj any) error { return k.Update(obj) }

// Update stores a secret.
func (k *secretSink) Update(obj any) error {
	var p *parsedSecret
	switch o := obj.(type) {
	case *parsedSecret:
		p = o
	case *corev1.Secret:
		p = k.parse(o)
	default:
		return nil
	}
	k.store.put(p.Namespace, p.Name, p.ResourceVersion, p.secret, p.authFile)
	k.mu.Lock()
	k.keys[types.NamespacedName{Namespace: p.Namespace, Name: p.Name}] = struct{}{}
	k.mu.Unlock()
	return nil
}

// Delete forgets a secret.
func (k *secretSink) Delete(obj any) error {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	m, ok := obj.(metav1.Object)
	if !ok {
		return nil
	}
	k.store.remove(m.GetNamespace(), m.GetName(), m.GetResourceVersion())
	k.mu.Lock()
	delete(k.keys, types.NamespacedName{Namespace: m.GetNamespace(), Name: m.GetName()})
	k.mu.Unlock()
	return nil
}

// Replace takes a full list: stores it, forgets what this sink had that is gone (as deleted
// at the list's resourceVersion), and marks the sink synced.
func (k *secretSink) Replace(items []any, resourceVersion string) error {
	seen := make(map[types.NamespacedName]struct{}, len(items))
	for _, item := range items {
		if m, ok := item.(metav1.Object); ok {
			k.Update(item)
			seen[types.NamespacedName{Namespace: m.GetNamespace(), Name: m.GetName()}] = struct{}{}
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
		k.store.remove(key.Namespace, key.Name, resourceVersion)
	}
	k.synced.Store(true)
	return nil
}

// Resync does nothing: there is no resync period.
func (k *secretSink) Resync() error { return nil }

// secretListWatch lists and watches the secrets of one type in every namespace through the
// typed client, which speaks protobuf: decoding the initial list of 30,000 OpenShift
// dockercfg secrets as JSON allocates twice as much (every event's object is buffered as a
// RawExtension, then each data value is base64-decoded) and takes longer than the API
// server's whole answer.
func secretListWatch(client kubernetes.Interface, typ corev1.SecretType) cache.ListerWatcher {
	selector := "type=" + string(typ)
	secrets := client.CoreV1().Secrets(metav1.NamespaceAll)
	return &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.FieldSelector = selector
			return secrets.List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector = selector
			return secrets.Watch(ctx, o)
		},
	}
}
