package server

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/certwatcher"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/pullguard/pullguard/pkg/admission/access"
	"github.com/pullguard/pullguard/pkg/admission/decision"
	"github.com/pullguard/pullguard/pkg/admission/state"
	"github.com/pullguard/pullguard/pkg/registryauth"
	"github.com/pullguard/pullguard/pkg/registryauth/probe"
	"github.com/pullguard/pullguard/pkg/registryauth/providerconfig"
)

// Paths of the admission endpoints.
const (
	MutatePath   = "/mutate"
	ValidatePath = "/validate"
)

// DefaultExclude are the namespaces pullguard never touches, besides its own.
var DefaultExclude = []string{"kube-system", "kube-public", "kube-node-lease", "openshift-*"}

// Options are the flags of `webhook serve`.
type Options struct {
	BindAddress            string
	TLSCertFile            string
	TLSKeyFile             string
	MetricsBindAddress     string
	HealthProbeBindAddress string
	EnableHTTP2            bool
	// Profiling serves net/http/pprof under /debug/pprof/ on the metrics address.
	Profiling bool

	Defaults              decision.Policy
	NodeCredentialSecrets []string // namespace/name
	NodeCredentialFiles   []string
	// ImageCredentialProviderConfig is the kubelet's CredentialProviderConfig (a file or a
	// directory of them): images its providers match are the nodes' to pull.
	ImageCredentialProviderConfig string
	PrivateRegistries             registryauth.Patterns
	// InternalRegistries are OpenShift's internal registry hosts (--internal-registries):
	// their images need the pulling account's access to the project (a SubjectAccessReview
	// through the server's client), and a service account's dockercfg secret is waited for.
	InternalRegistries registryauth.Patterns
	// Mirrors are the node's runtime and mirror configuration files (--runtime,
	// --registries-conf, --containerd-hosts-dir); the cluster's mirror sets are watched
	// besides, where served.
	Mirrors           state.NodeMirrorFiles
	ExcludeNamespaces []string
	// Verify probes registries (SPEC section 6) within VerifyTimeout per review, trusting
	// RegistryCAFiles beside the system roots.
	Verify          bool
	VerifyTimeout   time.Duration
	RegistryCAFiles []string
	// VerifyMaxProbes bounds the probes of one review (--verify-max-probes; default
	// probe.DefaultMaxPerReview): images past it are indeterminate.
	VerifyMaxProbes int
	// VerifyDenyNetworks are networks probes never connect to (--verify-deny-networks);
	// images whose registry resolves there are decided by matching alone. nil means
	// probe.DefaultDenyNetworks; an empty slice denies nothing (tests with loopback
	// registries).
	VerifyDenyNetworks []netip.Prefix
	// OwnNamespace is excluded too; read from POD_NAMESPACE or the service account mount
	// when empty.
	OwnNamespace string
	// ClientCAFile, when set, makes the admission port require a client certificate that
	// chains to a CA of this PEM bundle: the API server's, from its AdmissionConfiguration.
	// The file is re-read when it changes.
	ClientCAFile string
	// DrainDelay is how long, once Run's context ends, reviews are still answered while
	// /readyz fails, so that endpoints stop sending new connections before the port
	// closes. Zero closes at once.
	DrainDelay time.Duration
	// Version labels pullguard_build_info; empty: the module version the binary carries.
	Version string

	Log *slog.Logger
}

// Validate checks the options and fills what can be derived.
func (o *Options) Validate() error {
	if _, _, err := splitAddress(o.BindAddress); err != nil {
		return fmt.Errorf("--bind-address: %w", err)
	}
	if o.TLSCertFile == "" || o.TLSKeyFile == "" {
		return errors.New("--tls-cert-file and --tls-key-file are required")
	}
	for _, ref := range o.NodeCredentialSecrets {
		if _, err := parseNamespacedName(ref); err != nil {
			return fmt.Errorf("--node-credentials: %w", err)
		}
	}
	if o.Defaults.Mode == "" {
		o.Defaults.Mode = decision.Enforce
	}
	if o.Defaults.FailurePolicy == "" {
		o.Defaults.FailurePolicy = decision.FailOpen
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.VerifyTimeout <= 0 {
		o.VerifyTimeout = 3 * time.Second
	}
	if o.VerifyDenyNetworks == nil {
		o.VerifyDenyNetworks = probe.MustParseNetworks(probe.DefaultDenyNetworks)
	}
	return nil
}

// Server is a running pullguard.
type Server struct {
	opts    Options
	State   *state.State
	Metrics *Metrics
	Prober  *probe.Prober
	// Access asks the API server the internal registry's access questions.
	Access *access.Reviewer

	cert      atomic.Pointer[certwatcher.CertWatcher]
	clientCAs *clientCAs
	stopping  atomic.Bool
}

// New builds the server against the cluster of cfg.
func New(cfg *rest.Config, opts Options) (*Server, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	s := &Server{opts: opts}
	cfg = rest.CopyConfig(cfg)
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { return s.Metrics.countRequests(rt) })
	// Informers list and watch; reviews read caches. The rate limit only paces start-up.
	cfg.QPS, cfg.Burst = 50, 100
	s.Metrics = NewMetrics(func() int {
		if s.State == nil {
			return 0
		}
		return s.State.CachedPullSecrets()
	})
	s.Metrics.SetVersion(cmp.Or(opts.Version, moduleVersion()))
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	var secrets []types.NamespacedName
	for _, ref := range opts.NodeCredentialSecrets {
		nn, _ := parseNamespacedName(ref)
		secrets = append(secrets, nn)
	}
	var providers []registryauth.CredentialProvider
	if opts.ImageCredentialProviderConfig != "" {
		if providers, err = providerconfig.Load(opts.ImageCredentialProviderConfig); err != nil {
			return nil, fmt.Errorf("--image-credential-provider-config: %w", err)
		}
	}
	s.State, err = state.New(client, state.Options{
		NodeCredentialSecrets: secrets,
		NodeCredentialFiles:   opts.NodeCredentialFiles,
		CredentialProviders:   providers,
		PrivateRegistries:     opts.PrivateRegistries,
		InternalRegistries:    opts.InternalRegistries,
		Mirrors:               opts.Mirrors,
		RESTConfig:            cfg,
		Defaults:              opts.Defaults,
		Log:                   opts.Log,
	})
	if err != nil {
		return nil, err
	}
	if len(opts.InternalRegistries) > 0 {
		s.Access = access.New(client, access.Options{})
	}
	if opts.ClientCAFile != "" {
		if s.clientCAs, err = newClientCAs(opts.ClientCAFile, s.serverTLS(), opts.Log); err != nil {
			return nil, err
		}
	}
	if opts.Verify {
		s.Prober, err = probe.New(probe.Options{
			CAFiles: opts.RegistryCAFiles, Timeout: opts.VerifyTimeout + 2*time.Second,
			MaxPerReview: opts.VerifyMaxProbes, DenyNetworks: opts.VerifyDenyNetworks,
			Observer: s.Metrics, Log: opts.Log,
		})
		if err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Run serves until ctx ends, then shuts down gracefully: readiness fails first, and
// in-flight reviews finish.
func (s *Server) Run(ctx context.Context) error {
	log := s.opts.Log
	ln, err := net.Listen("tcp", s.opts.BindAddress)
	if err != nil {
		return fmt.Errorf("webhook server: %w", err)
	}
	// Everything runs on until the drain delay after ctx ends: caches, certificate
	// watchers and servers keep working while the last reviews come in.
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	s.State.Start(runCtx)
	go s.watchCert(runCtx)

	exclude := append(append([]string{}, s.opts.ExcludeNamespaces...), ownNamespace(s.opts.OwnNamespace)...)
	mutate := &Handler{State: s.State, Exclude: exclude, Metrics: s.Metrics, Log: log, Prober: s.Prober, VerifyTimeout: s.opts.VerifyTimeout}
	validate := &Handler{State: s.State, Exclude: exclude, Metrics: s.Metrics, Log: log, Prober: s.Prober, VerifyTimeout: s.opts.VerifyTimeout, Workloads: true}
	if s.Access != nil {
		mutate.Access, mutate.Dockercfg = s.Access, s.State
		validate.Access = s.Access
	}

	hooks := http.NewServeMux()
	// Standalone webhooks count into controller-runtime's controller_runtime_webhook_*
	// metrics, labelled by path, as its webhook.Server would.
	for path, h := range map[string]*Handler{MutatePath: mutate, ValidatePath: validate} {
		hook, err := admission.StandaloneWebhook(&admission.Webhook{Handler: h, LogConstructor: plainLogger}, admission.StandaloneOptions{MetricsPath: path})
		if err != nil {
			ln.Close()
			return err
		}
		hooks.Handle(path, hook)
	}
	tlsConfig := s.serverTLS()
	if s.clientCAs != nil {
		tlsConfig.GetConfigForClient = s.clientCAs.forClient
		go s.clientCAs.watch(runCtx)
	}
	srv := newAdmissionServer(hooks, tlsConfig, s.opts.VerifyTimeout, s.opts.EnableHTTP2, log)

	var wg sync.WaitGroup
	errs := make(chan error, 3)
	serve := func(name string, run func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := run(); err != nil {
				errs <- fmt.Errorf("%s: %w", name, err)
			}
		}()
	}
	serve("webhook server", func() error { return serveAdmission(runCtx, srv, ln) })
	if s.opts.MetricsBindAddress != "" && s.opts.MetricsBindAddress != "0" {
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(s.Metrics.Gatherer(), promhttp.HandlerOpts{Registry: s.Metrics.Registry}))
		if s.opts.Profiling {
			mux.HandleFunc("/debug/pprof/", pprof.Index)
			mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
			mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		}
		serve("metrics server", func() error { return serveHTTP(runCtx, s.opts.MetricsBindAddress, mux) })
	}
	if s.opts.HealthProbeBindAddress != "" && s.opts.HealthProbeBindAddress != "0" {
		serve("health server", func() error { return serveHTTP(runCtx, s.opts.HealthProbeBindAddress, s.healthMux()) })
	}
	log.Info("serving", "address", s.opts.BindAddress, "metrics", s.opts.MetricsBindAddress, "health", s.opts.HealthProbeBindAddress,
		"clientCAFile", s.opts.ClientCAFile)

	select {
	case <-ctx.Done():
		// Readiness fails at once; the Service's endpoints and the API server's
		// connections take a few seconds to notice, and reviews sent meanwhile are
		// answered, not refused.
		s.stopping.Store(true)
		if d := s.opts.DrainDelay; d > 0 {
			log.Info("shutting down: not ready, still answering reviews", "drainDelay", d.String())
			select {
			case <-time.After(d):
			case err = <-errs:
			}
		}
		log.Info("shutting down: finishing in-flight reviews")
	case err = <-errs:
		s.stopping.Store(true)
	}
	cancel()
	wg.Wait()
	return err
}

// plainLogger replaces controller-runtime's per-request logger, which attaches the request's
// fields with WithValues on every review: with a JSON handler that encodes them each time,
// about 7% of the CPU under load, for log lines never written. pullguard's own log lines
// carry kind, namespace, name and UID.
func plainLogger(base logr.Logger, _ *admission.Request) logr.Logger { return base }

// Ready reports whether the server should receive reviews: caches synced, a serving
// certificate loaded, and not shutting down.
func (s *Server) Ready() error {
	switch {
	case s.stopping.Load():
		return errors.New("shutting down")
	case !s.State.Synced():
		return errors.New("caches not synced")
	case s.cert.Load() == nil:
		return errors.New("no serving certificate loaded")
	}
	return nil
}

func (s *Server) healthMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if err := s.Ready(); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	return mux
}

// watchCert loads the serving certificate, retrying until it exists (a cert injected by
// service-ca or cert-manager may arrive after the pod starts), then reloads it on change.
func (s *Server) watchCert(ctx context.Context) {
	for {
		w, err := certwatcher.New(s.opts.TLSCertFile, s.opts.TLSKeyFile)
		if err == nil {
			s.cert.Store(w)
			if err := w.Start(ctx); err != nil {
				s.opts.Log.Error("certificate watcher stopped", "error", err.Error())
			}
			return
		}
		s.opts.Log.Warn("waiting for the serving certificate", "error", err.Error())
		select {
		case <-ctx.Done():
			return
		case <-time.After(2 * time.Second):
		}
	}
}

// serverTLS is the admission port's TLS configuration: TLS 1.2 or later, the watched
// serving certificate, HTTP/1.1 unless HTTP/2 is enabled.
func (s *Server) serverTLS() *tls.Config {
	protos := []string{"http/1.1"}
	if s.opts.EnableHTTP2 {
		protos = []string{"h2", "http/1.1"}
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: s.getCertificate, NextProtos: protos}
}

func (s *Server) getCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	w := s.cert.Load()
	if w == nil {
		return nil, errors.New("no serving certificate loaded yet")
	}
	return w.GetCertificate(hello)
}

func serveHTTP(ctx context.Context, addr string, h http.Handler) error {
	srv := &http.Server{Addr: addr, Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func splitAddress(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil || port <= 0 || port > 65535 {
		return "", 0, fmt.Errorf("bad port in %q", addr)
	}
	return host, port, nil
}

func parseNamespacedName(ref string) (types.NamespacedName, error) {
	ns, name, ok := strings.Cut(ref, "/")
	if !ok || ns == "" || name == "" || strings.Contains(name, "/") {
		return types.NamespacedName{}, fmt.Errorf("%q is not namespace/name", ref)
	}
	return types.NamespacedName{Namespace: ns, Name: name}, nil
}

// moduleVersion is the version the go command stamped into the binary, for builds without
// a version set at link time.
func moduleVersion() string {
	if info, ok := debug.ReadBuildInfo(); ok {
		return info.Main.Version
	}
	return ""
}

// ownNamespace returns the namespace pullguard runs in, to exclude it.
func ownNamespace(configured string) []string {
	if configured != "" {
		return []string{configured}
	}
	if ns := os.Getenv("POD_NAMESPACE"); ns != "" {
		return []string{ns}
	}
	if b, err := os.ReadFile("/var/run/secrets/kubernetes.io/serviceaccount/namespace"); err == nil && len(b) > 0 {
		return []string{strings.TrimSpace(string(b))}
	}
	return nil
}
