package state

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	crcache "sigs.k8s.io/controller-runtime/pkg/cache"

	"github.com/pullguard/pullguard/pkg/registryauth/mirrors"
)

// mirrorSetsCache names the mirror set caches in the warnings while not synced.
const mirrorSetsCache = "mirror sets"

// Discovery of the mirror set kinds is retried, backing off, until the API server answers:
// until then the state is not synced (a cluster that serves them must not be decided
// without them).
const (
	mirrorDiscoveryFirstRetry = time.Second
	mirrorDiscoveryMaxRetry   = 30 * time.Second
)

// mirrorWatch keeps the node's mirror configuration: the files read at start, and, with
// CRI-O, the mirror sets the cluster serves, watched through controller-runtime's cache
// (unstructured, stripped before they are stored). Every change rebuilds one immutable
// *mirrors.Config; a review loads it with one atomic load.
type mirrorWatch struct {
	runtime mirrors.Runtime
	files   []mirrors.Source
	restCfg *rest.Config // nil: mirror sets are not watched (unit tests)
	disc    discovery.DiscoveryInterface
	log     *slog.Logger
	errs    *syncErrors

	config atomic.Pointer[mirrors.Config]

	// discovered is set once discovery answered and the informers (if any) exist; then
	// cache and informers are not written again.
	discovered atomic.Bool
	cache      crcache.Cache
	kinds      []MirrorSetKind
	informers  []crcache.Informer
	// live is set once the informers hold their initial lists: from then on every event
	// rebuilds the configuration (before, the one rebuild at sync does).
	live    atomic.Bool
	buildMu sync.Mutex
}

func newMirrorWatch(rt mirrors.Runtime, files []mirrors.Source, restCfg *rest.Config, disc discovery.DiscoveryInterface, log *slog.Logger, errs *syncErrors) *mirrorWatch {
	w := &mirrorWatch{runtime: rt, files: files, restCfg: restCfg, disc: disc, log: log, errs: errs}
	c, _ := MirrorConfig(rt, files, nil) // no sets: nothing to refuse
	w.config.Store(c)
	return w
}

// current is the configuration decisions use now; nil mirrors nothing.
func (w *mirrorWatch) current() *mirrors.Config {
	if w == nil {
		return nil
	}
	return w.config.Load()
}

// synced reports whether discovery answered and every mirror set informer has its list.
func (w *mirrorWatch) synced() bool {
	if w.restCfg == nil {
		return true
	}
	if !w.discovered.Load() {
		return false
	}
	for _, inf := range w.informers {
		if !inf.HasSynced() {
			return false
		}
	}
	return true
}

// start discovers the served kinds, retrying until the API server answers, and runs an
// informer for each, until ctx ends.
func (w *mirrorWatch) start(ctx context.Context) {
	if w.restCfg == nil {
		return
	}
	go func() {
		wait := mirrorDiscoveryFirstRetry
		for {
			served, err := ServedMirrorSetKinds(w.disc)
			if err == nil {
				if err = w.watch(ctx, served); err == nil {
					w.discovered.Store(true)
					return
				}
			}
			w.errs.record(mirrorSetsCache, err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
			wait = min(2*wait, mirrorDiscoveryMaxRetry)
		}
	}()
}

// watch starts an informer per served kind; with containerd it watches nothing (no node
// follows the sets) and says so where sets are served.
func (w *mirrorWatch) watch(ctx context.Context, served []MirrorSetKind) error {
	var names []string
	for _, k := range served {
		names = append(names, k.Kind)
	}
	switch {
	case len(served) == 0:
		w.log.Info("mirror sets are not served: none watched", "runtime", string(w.runtime))
		return nil
	case w.runtime != mirrors.CRIO:
		w.log.Warn("mirror sets are served (OpenShift), but --runtime is not crio: containerd does not read them, so they are not watched; OpenShift's nodes run CRI-O: set --runtime=crio",
			"served", names, "runtime", string(w.runtime))
		return nil
	}
	c, err := crcache.New(w.restCfg, crcache.Options{
		DefaultTransform: stripMirrorSet,
		DefaultWatchErrorHandler: func(ctx context.Context, r *toolscache.Reflector, err error) {
			w.errs.record(mirrorSetsCache, err)
			toolscache.DefaultWatchErrorHandler(ctx, r, err)
		},
	})
	if err != nil {
		return err
	}
	var informers []crcache.Informer
	for _, k := range served {
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(k.GroupVersionKind)
		inf, err := c.GetInformer(ctx, u, crcache.BlockUntilSynced(false))
		if err != nil {
			return err
		}
		rebuild := func(any) { w.changed(ctx) }
		if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
			AddFunc: rebuild, UpdateFunc: func(_, obj any) { rebuild(obj) }, DeleteFunc: rebuild,
		}); err != nil {
			return err
		}
		informers = append(informers, inf)
	}
	w.cache, w.kinds, w.informers = c, served, informers
	go func() {
		if err := c.Start(ctx); err != nil {
			w.log.Error("mirror set caches stopped", "error", err.Error())
		}
	}()
	w.log.Info("watching mirror sets", "kinds", names, "runtime", string(w.runtime))
	return nil
}

// goLive builds the configuration from the synced caches and rebuilds it on every change
// after. Called once every cache is synced, before the state is marked ready.
func (w *mirrorWatch) goLive(ctx context.Context) {
	w.live.Store(true)
	w.rebuild(ctx)
}

func (w *mirrorWatch) changed(ctx context.Context) {
	if w.live.Load() {
		w.rebuild(ctx)
	}
}

// rebuild lists every mirror set from the caches and stores a new configuration.
// Rebuilds run one at a time, each reading the caches after the event that caused it, so
// the last one stored has seen every change.
func (w *mirrorWatch) rebuild(ctx context.Context) {
	if w.cache == nil {
		return
	}
	w.buildMu.Lock()
	defer w.buildMu.Unlock()
	var sets []mirrors.MirrorSet // in the caches' order: the mirrors package reads them by kind, then name
	for _, k := range w.kinds {
		list := &unstructured.UnstructuredList{}
		list.SetGroupVersionKind(k.GroupVersion().WithKind(k.Kind + "List"))
		if err := w.cache.List(ctx, list); err != nil {
			w.log.Warn("keeping the last mirror configuration: listing a mirror set cache failed", "kind", k.Kind, "error", err.Error())
			return
		}
		for i := range list.Items {
			set, err := DecodeMirrorSet(list.Items[i].Object)
			if err != nil {
				// The API server validated it against its schema: only a kind whose
				// schema differs from OpenShift's gets here.
				w.log.Warn("ignoring a mirror set pullguard cannot read", "error", err.Error())
				continue
			}
			sets = append(sets, set)
		}
	}
	c, err := MirrorConfig(w.runtime, w.files, sets)
	if err != nil {
		// The nodes keep the registries.conf they had, and so does pullguard.
		w.log.Warn("keeping the last mirror configuration: the machine-config operator refuses these mirror sets", "error", err.Error())
		return
	}
	w.config.Store(c)
	w.log.Debug("mirror configuration rebuilt", "mirrorSets", len(sets), "sources", len(c.Sources))
}
