package state

import (
	"context"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"

	"github.com/pullguard/pullguard/pkg/admission/decision"
)

// dockercfgWaiters are reviews waiting for a service account to name its dockercfg secret
// for the internal registry: OpenShift's controller names it a moment after creating the
// account, and a pod created in that moment gets no credentials from the ServiceAccount
// admission plugin. The service account informer wakes them.
type dockercfgWaiters struct {
	mu      sync.Mutex
	waiting map[types.NamespacedName]map[chan struct{}]struct{}
}

func watchDockercfg(informer cache.SharedIndexInformer) *dockercfgWaiters {
	w := &dockercfgWaiters{waiting: map[types.NamespacedName]map[chan struct{}]struct{}{}}
	// The informer updates its store before it calls handlers: a waiter woken here finds
	// the account's new version in the lister.
	_, _ = informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    w.changed,
		UpdateFunc: func(_, obj any) { w.changed(obj) },
	})
	return w
}

func (w *dockercfgWaiters) changed(obj any) {
	sa, ok := obj.(*corev1.ServiceAccount)
	if !ok || decision.DockercfgSecret(sa) == "" {
		return
	}
	key := types.NamespacedName{Namespace: sa.Namespace, Name: sa.Name}
	w.mu.Lock()
	defer w.mu.Unlock()
	for ch := range w.waiting[key] {
		close(ch)
	}
	delete(w.waiting, key)
}

// register returns a channel closed when the account names its dockercfg secret, and a
// function that forgets it.
func (w *dockercfgWaiters) register(key types.NamespacedName) (<-chan struct{}, func()) {
	ch := make(chan struct{})
	w.mu.Lock()
	if w.waiting[key] == nil {
		w.waiting[key] = map[chan struct{}]struct{}{}
	}
	w.waiting[key][ch] = struct{}{}
	w.mu.Unlock()
	return ch, func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		if set := w.waiting[key]; set != nil {
			delete(set, ch)
			if len(set) == 0 {
				delete(w.waiting, key)
			}
		}
	}
}

// WaitForDockercfg waits, at most budget and while ctx lasts, until the service account
// names its dockercfg secret for the internal registry, reporting whether it does.
func (s *State) WaitForDockercfg(ctx context.Context, ns, sa string, budget time.Duration) bool {
	named := func() bool {
		acct, err := s.accounts.ServiceAccounts(ns).Get(sa)
		return err == nil && decision.DockercfgSecret(acct) != ""
	}
	// Registered before looking, so an update between the look and the wait is not lost.
	woken, forget := s.dockercfg.register(types.NamespacedName{Namespace: ns, Name: sa})
	defer forget()
	if named() {
		return true
	}
	timer := time.NewTimer(budget)
	defer timer.Stop()
	select {
	case <-woken:
		return true
	case <-timer.C:
	case <-ctx.Done():
	}
	return named()
}
