package state

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	"github.com/pullguard/pullguard/pkg/admission/decision"
	"github.com/pullguard/pullguard/pkg/registryauth"
	"github.com/pullguard/pullguard/pkg/registryauth/mirrors"
)

// Options configure the caches.
type Options struct {
	// NodeCredentialSecrets are pull secrets every node already has
	// (openshift-config/pull-secret on OpenShift).
	NodeCredentialSecrets []types.NamespacedName
	// NodeCredentialFiles are docker config.json files every node already has.
	NodeCredentialFiles []string
	// CredentialProviders are the kubelet's credential provider plugins
	// (--image-credential-provider-config).
	CredentialProviders []registryauth.CredentialProvider
	// PrivateRegistries always need a credential.
	PrivateRegistries registryauth.Patterns
	// InternalRegistries are OpenShift's internal registry hosts (--internal-registries).
	InternalRegistries registryauth.Patterns
	// Mirrors are the node's mirror configuration files, read once by New; an empty
	// Runtime is containerd.
	Mirrors NodeMirrorFiles
	// RESTConfig, when set, is the API server's, to watch the cluster's mirror sets where
	// they are served (a kubernetes.Interface cannot list kinds it has no types for).
	RESTConfig *rest.Config
	// Defaults is the policy of namespaces without labels.
	Defaults decision.Policy
	// FileRecheck is how often node credential files are re-read (default 10s).
	FileRecheck time.Duration
	// SyncWarnAfter is when, while the caches are not synced, the first warning is logged
	// (default 5s); later ones back off to a minute.
	SyncWarnAfter time.Duration
	Log           *slog.Logger
}

// State answers, from caches, what a decision needs to know about a namespace.
type State struct {
	client   kubernetes.Interface
	refresh  singleflight.Group
	gate     refreshGate
	opts     Options
	log      *slog.Logger
	secrets  *secretStore
	accounts corelisters.ServiceAccountLister
	saStore  cache.Indexer // the accounts' store, read by key (serviceAccounts)
	spaces   corelisters.NamespaceLister

	// dockercfg wakes reviews waiting for an account's dockercfg secret (dockercfg.go).
	dockercfg *dockercfgWaiters

	factories  []informers.SharedInformerFactory
	reflectors []*cache.Reflector
	synced     []cache.InformerSynced
	named      []namedSync // the same checks, named for the warnings while not synced
	syncErrs   syncErrors
	ready      atomic.Bool

	// mirrors is the node's mirror configuration (mirrorwatch.go).
	mirrors *mirrorWatch

	node        atomic.Pointer[registryauth.Keyring]
	nodeSecrets []string // the --node-credentials secrets, namespace/name
	filesMu     sync.Mutex
	fileBytes   map[string][]byte

	// nodeAuthFile is the node credentials read as CRI-O reads its auth file
	// (decision.Facts.NodeAuthFile). nodeMu orders the rebuilds: one that read the caches
	// earlier must not store its keyrings after a later one.
	nodeAuthFile atomic.Pointer[registryauth.Keyring]
	nodeMu       sync.Mutex
}

// New sets up the informers; Start runs them.
func New(client kubernetes.Interface, opts Options) (*State, error) {
	if opts.FileRecheck <= 0 {
		opts.FileRecheck = 10 * time.Second
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	s := &State{client: client, opts: opts, log: opts.Log, secrets: newSecretStore(), fileBytes: map[string][]byte{}}
	for _, ref := range opts.NodeCredentialSecrets {
		s.nodeSecrets = append(s.nodeSecrets, ref.String())
	}
	s.secrets.onChange = s.secretChanged
	s.secrets.nodeSecrets = opts.NodeCredentialSecrets

	// One reflector per pull secret type: a field selector cannot say "either type", and
	// selecting on the server means opaque secrets are never even listed. The reflectors
	// feed parsed secrets straight into the store (see secretSink).
	for _, typ := range []corev1.SecretType{corev1.SecretTypeDockerConfigJson, corev1.SecretTypeDockercfg} {
		name := "secrets of type " + string(typ)
		lw := s.syncErrs.recordListWatch(name, secretListWatch(client, typ))
		sink := newSecretSink(s.secrets)
		s.reflectors = append(s.reflectors, cache.NewReflectorWithOptions(lw, &corev1.Secret{}, sink, cache.ReflectorOptions{Name: "pullguard " + string(typ)}))
		s.synced = append(s.synced, sink.synced.Load)
		s.named = append(s.named, namedSync{name, sink.synced.Load})
	}

	accounts := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithTransform(stripServiceAccount))
	// The account and namespace informers have no indexers: reviews read both by key and
	// never list a namespace's, and the default namespace index holds a set of keys per
	// namespace, tens of thousands on an OpenShift cluster.
	accounts.InformerFor(&corev1.ServiceAccount{}, func(c kubernetes.Interface, resync time.Duration) cache.SharedIndexInformer {
		return coreinformers.NewServiceAccountInformer(c, metav1.NamespaceAll, resync, cache.Indexers{})
	})
	s.accounts = accounts.Core().V1().ServiceAccounts().Lister()
	s.saStore = accounts.Core().V1().ServiceAccounts().Informer().GetIndexer()
	s.dockercfg = watchDockercfg(accounts.Core().V1().ServiceAccounts().Informer())
	s.synced = append(s.synced, accounts.Core().V1().ServiceAccounts().Informer().HasSynced)
	s.named = append(s.named, namedSync{"serviceaccounts", accounts.Core().V1().ServiceAccounts().Informer().HasSynced})
	s.syncErrs.recordInformer("serviceaccounts", accounts.Core().V1().ServiceAccounts().Informer())

	spaces := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithTransform(stripNamespace))
	spaces.InformerFor(&corev1.Namespace{}, func(c kubernetes.Interface, resync time.Duration) cache.SharedIndexInformer {
		return coreinformers.NewNamespaceInformer(c, resync, cache.Indexers{})
	})
	s.spaces = spaces.Core().V1().Namespaces().Lister()
	s.synced = append(s.synced, spaces.Core().V1().Namespaces().Informer().HasSynced)
	s.named = append(s.named, namedSync{"namespaces", spaces.Core().V1().Namespaces().Informer().HasSynced})
	s.syncErrs.recordInformer("namespaces", spaces.Core().V1().Namespaces().Informer())
	s.factories = append(s.factories, accounts, spaces)

	if opts.Mirrors.Runtime == "" {
		opts.Mirrors.Runtime = mirrors.Containerd
	}
	files, err := opts.Mirrors.Read()
	if err != nil {
		return nil, err
	}
	s.mirrors = newMirrorWatch(opts.Mirrors.Runtime, files, opts.RESTConfig, client.Discovery(), s.log, &s.syncErrs)
	s.synced = append(s.synced, s.mirrors.synced)
	s.named = append(s.named, namedSync{mirrorSetsCache, s.mirrors.synced})

	if err := s.reloadFiles(); err != nil {
		return nil, err
	}
	return s, nil
}

// Start runs the informers and the file watcher until ctx ends, and marks the state synced
// once every cache has its initial list.
func (s *State) Start(ctx context.Context) {
	for _, f := range s.factories {
		f.Start(ctx.Done())
	}
	for _, r := range s.reflectors {
		go r.Run(ctx.Done())
	}
	s.mirrors.start(ctx)
	go func() {
		if cache.WaitForCacheSync(ctx.Done(), s.synced...) {
			s.rebuildNode()
			s.mirrors.goLive(ctx)
			s.ready.Store(true)
			s.log.Info("caches synced", "pullSecrets", s.secrets.len())
		}
	}()
	go s.watchFiles(ctx)
	go s.warnUntilSynced(ctx, cmp.Or(s.opts.SyncWarnAfter, defaultSyncWarnAfter))
}

// Synced reports whether every cache holds its initial list.
func (s *State) Synced() bool { return s.ready.Load() }

// WaitForSync blocks until the caches are synced or ctx ends.
func (s *State) WaitForSync(ctx context.Context) bool {
	for !s.Synced() {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(50 * time.Millisecond):
		}
	}
	return true
}

// Facts returns what the decision needs about a namespace, from the caches only.
func (s *State) Facts(ns string) *decision.Facts {
	return &decision.Facts{
		Namespace:             ns,
		Secrets:               s.secrets.index(ns),
		ServiceAccounts:       serviceAccounts{s.saStore, ns},
		Node:                  s.node.Load(),
		NodeAuthFile:          s.nodeAuthFile.Load(),
		NodeSecrets:           s.nodeSecrets,
		Providers:             s.opts.CredentialProviders,
		Mirrors:               s.mirrors.current(),
		PrivateRegistries:     s.opts.PrivateRegistries,
		InternalRegistries:    s.opts.InternalRegistries,
		ServiceAccountApplied: true,
	}
}

// Policy returns the namespace's policy from its labels.
func (s *State) Policy(ns string) decision.Policy {
	n, err := s.spaces.Get(ns)
	if err != nil {
		return decision.PolicyFor(nil, s.opts.Defaults)
	}
	return decision.PolicyFor(n.Labels, s.opts.Defaults)
}

// CachedPullSecrets returns how many pull secrets are cached.
func (s *State) CachedPullSecrets() int { return s.secrets.len() }

// serviceAccounts reads one namespace's accounts from the store by key: the lister's Get
// builds a NotFound error for an account not there, on every review of a namespace whose
// pods name one that does not exist (yet).
type serviceAccounts struct {
	store cache.Indexer
	ns    string
}

func (a serviceAccounts) ServiceAccount(name string) (*corev1.ServiceAccount, bool) {
	obj, ok, err := a.store.GetByKey(a.ns + "/" + name)
	if err != nil || !ok {
		return nil, false
	}
	sa, ok := obj.(*corev1.ServiceAccount)
	return sa, ok
}

// secretChanged rebuilds the node credentials when one of their secrets changes.
func (s *State) secretChanged(ns, name string) {
	if s.ready.Load() && slices.Contains(s.opts.NodeCredentialSecrets, types.NamespacedName{Namespace: ns, Name: name}) {
		s.rebuildNode()
	}
}

// rebuildNode assembles the node keyrings: the --node-credentials secrets, then the files,
// each in flag order; once as the kubelet reads them, once as CRI-O reads its auth file
// (a secret the kubelet finds malformed may still have keys CRI-O reads).
func (s *State) rebuildNode() {
	s.nodeMu.Lock()
	defer s.nodeMu.Unlock()
	k, authFile := &registryauth.Keyring{}, &registryauth.Keyring{}
	for _, ref := range s.opts.NodeCredentialSecrets {
		c, ok := s.secrets.cached(ref.Namespace, ref.Name)
		if !ok {
			s.log.Warn("node credentials secret not found", "secret", ref.String())
			continue
		}
		authFile.Add(c.authFile)
		if c.secret.Err != nil {
			s.log.Warn("node credentials secret is malformed", "secret", ref.String(), "error", c.secret.Err.Error())
			continue
		}
		named := *c.secret
		named.Name = ref.String()
		k.Add(&named)
	}
	s.filesMu.Lock()
	for _, path := range s.opts.NodeCredentialFiles {
		if raw, ok := s.fileBytes[path]; ok {
			k.Add(registryauth.ParseConfigFile(path, raw))
			authFile.Add(registryauth.ParseAuthFile(path, raw))
		}
	}
	s.filesMu.Unlock()
	s.node.Store(k)
	s.nodeAuthFile.Store(authFile)
}

// reloadFiles reads the node credential files and reports whether any changed. A file that
// cannot be read or parsed keeps its last good content.
func (s *State) reloadFiles() error {
	changed := false
	var firstErr error
	for _, path := range s.opts.NodeCredentialFiles {
		raw, err := os.ReadFile(path)
		if err == nil {
			if p := registryauth.ParseConfigFile(path, raw); p.Err != nil {
				err = p.Err
			}
		}
		if err != nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("--node-credentials-file: %w", err)
			}
			continue
		}
		s.filesMu.Lock()
		if !bytes.Equal(s.fileBytes[path], raw) {
			s.fileBytes[path] = raw
			changed = true
		}
		s.filesMu.Unlock()
	}
	if changed {
		s.rebuildNode()
	}
	return firstErr
}

func (s *State) watchFiles(ctx context.Context) {
	if len(s.opts.NodeCredentialFiles) == 0 {
		return
	}
	t := time.NewTicker(s.opts.FileRecheck)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.reloadFiles(); err != nil {
				s.log.Warn("keeping the last good node credentials", "error", err.Error())
			}
		}
	}
}
