package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/pullguard/pullguard/pkg/admission/check"
	"github.com/pullguard/pullguard/pkg/admission/decision"
	"github.com/pullguard/pullguard/pkg/admission/server"
	"github.com/pullguard/pullguard/pkg/registryauth/mirrors"
	"github.com/pullguard/pullguard/pkg/registryauth/probe"
)

// serveFlags are the flags of `webhook serve` (SPEC section 2).
type serveFlags struct {
	kubeconfig    string
	configDir     string
	opts          server.Options
	mode          string
	failure       string
	nodeSecrets   stringList
	nodeFiles     stringList
	private       patternsFlag
	internal      patternsFlag
	runtime       string
	exclude       string
	verify        bool
	verifyTimeout time.Duration
	registryCAs   stringList
	logLevel      string
}

func (f *serveFlags) register(fs *pflag.FlagSet) {
	o := &f.opts
	fs.StringVar(&f.kubeconfig, "kubeconfig", "", "`path` of a kubeconfig (default: $KUBECONFIG, ~/.kube/config, else in-cluster)")
	fs.StringVar(&f.configDir, "config-dir", "", "`directory` of settings, one file per flag named like it (a mounted ConfigMap, "+check.DefaultServerConfig+", which check --cluster reads too); flags given win")
	fs.StringVar(&o.BindAddress, "bind-address", ":8443", "`address` of the HTTPS admission endpoint")
	fs.StringVar(&o.TLSCertFile, "tls-cert-file", "/etc/pullguard/tls/tls.crt", "serving certificate `path`, reloaded on change")
	fs.StringVar(&o.TLSKeyFile, "tls-key-file", "/etc/pullguard/tls/tls.key", "serving key `path`, reloaded on change")
	fs.StringVar(&o.MetricsBindAddress, "metrics-bind-address", ":8080", "`address` of Prometheus /metrics (0 disables)")
	fs.StringVar(&o.HealthProbeBindAddress, "health-probe-bind-address", ":8081", "`address` of /healthz and /readyz (0 disables)")
	fs.BoolVar(&o.EnableHTTP2, "enable-http2", false, "serve HTTP/2 on the admission endpoint")
	fs.StringVar(&o.ClientCAFile, "client-ca-file", "", "PEM CA bundle `path`: when set, the admission endpoint requires a client certificate it signed (the API server's), reloaded on change")
	fs.DurationVar(&o.DrainDelay, "drain-delay", 10*time.Second, "after SIGTERM, how long /readyz fails while reviews are still answered, before the server shuts down")
	fs.BoolVar(&o.Profiling, "profiling", false, "serve net/http/pprof under /debug/pprof/ on the metrics address")
	fs.StringVar(&f.mode, "default-mode", string(decision.Enforce), "`mode` of namespaces without the pullguard.io/mode label: enforce, warn or off")
	fs.StringVar(&f.failure, "default-failure-policy", string(decision.FailOpen), "`policy` of namespaces without the pullguard.io/failure-policy label: open or closed")
	fs.Var(&f.nodeSecrets, "node-credentials", "`namespace/name` of a pull secret every node already has (repeatable)")
	fs.Var(&f.nodeFiles, "node-credentials-file", "`path` of a docker config.json every node already has (repeatable)")
	fs.StringVar(&o.ImageCredentialProviderConfig, "image-credential-provider-config", "", "the kubelet's CredentialProviderConfig `file` (or directory): images its providers match are the nodes' to pull")
	fs.BoolVar(&f.verify, "verify", true, "probe registries to check credentials and tags")
	fs.DurationVar(&f.verifyTimeout, "verify-timeout", 3*time.Second, "budget for all registry probes of one request")
	fs.IntVar(&o.VerifyMaxProbes, "verify-max-probes", probe.DefaultMaxPerReview, "most registry probes one request may send; images past them are indeterminate")
	fs.Func("verify-deny-networks", "comma list of `CIDRs` probes never connect to, checked on the resolved address; their images are decided by matching alone (default "+probe.DefaultDenyNetworks+")", func(s string) (err error) {
		o.VerifyDenyNetworks, err = probe.ParseNetworks(s)
		return err
	})
	fs.Var(&f.private, "private-registries", "comma list of registry `globs` that always need credentials")
	fs.Var(&f.internal, "internal-registries", "comma list of OpenShift internal registry `hosts` (host[:port]): cross-project pulls need the service account's access (SubjectAccessReview), and a service account's dockercfg secret is waited for")
	fs.StringVar(&f.runtime, "runtime", string(mirrors.Containerd), "the nodes' container `runtime`, whose mirror and credential rules apply: crio (OpenShift) or containerd")
	fs.StringVar(&o.Mirrors.RegistriesConf, "registries-conf", "", "CRI-O's registries.conf `file`, as the nodes have it (mirrors outside OpenShift, where mirror sets are watched); read at start")
	fs.StringVar(&o.Mirrors.ContainerdHostsDir, "containerd-hosts-dir", "", "containerd's registry hosts `directory` (config_path: a hosts.toml per host), as the nodes have it; read at start")
	fs.Var(&f.registryCAs, "registry-ca-file", "PEM bundle `path` trusted for registry probes, beside the system roots (repeatable)")
	fs.StringVar(&f.exclude, "exclude-namespaces", strings.Join(server.DefaultExclude, ","), "comma list of namespace `globs` never touched (pullguard's own namespace is always excluded)")
	fs.StringVar(&f.logLevel, "log-level", "info", "log `level`: debug, info, warn or error")
}

func (f *serveFlags) complete() error {
	var err error
	o := &f.opts
	if o.Defaults.Mode, err = decision.ParseMode(f.mode); err != nil {
		return fmt.Errorf("--default-mode: %w", err)
	}
	if o.Defaults.FailurePolicy, err = decision.ParseFailurePolicy(f.failure); err != nil {
		return fmt.Errorf("--default-failure-policy: %w", err)
	}
	o.NodeCredentialSecrets, o.NodeCredentialFiles = f.nodeSecrets, f.nodeFiles
	o.PrivateRegistries = f.private.patterns
	o.InternalRegistries = f.internal.patterns
	if o.Mirrors.Runtime, err = mirrors.ParseRuntime(f.runtime); err != nil {
		return fmt.Errorf("--runtime: %w", err)
	}
	// Read here too (state reads them again to serve), so a file that does not parse
	// stops serve before anything starts, as any bad flag does.
	if _, err := o.Mirrors.Read(); err != nil {
		return err
	}
	o.Verify, o.VerifyTimeout, o.RegistryCAFiles = f.verify, f.verifyTimeout, f.registryCAs
	if o.VerifyTimeout <= 0 {
		return fmt.Errorf("--verify-timeout must be positive")
	}
	if o.VerifyMaxProbes <= 0 {
		return fmt.Errorf("--verify-max-probes must be positive")
	}
	if o.DrainDelay < 0 {
		return fmt.Errorf("--drain-delay must not be negative")
	}
	o.ExcludeNamespaces = nil
	for _, ns := range strings.Split(f.exclude, ",") {
		if ns = strings.TrimSpace(ns); ns != "" {
			o.ExcludeNamespaces = append(o.ExcludeNamespaces, ns)
		}
	}
	return o.Validate()
}

// newServeCommand returns `serve`; its messages go to stderr.
func newServeCommand(stderr io.Writer) *cobra.Command {
	var f serveFlags
	cmd := &cobra.Command{
		Use:   "serve [flags]",
		Short: "Run the admission webhook server (the default command)",
		Long: `Run the admission webhook: POST /mutate injects pull secrets into Pods and BuildConfigs
or denies them; POST /validate warns about workload templates. Metrics on
--metrics-bind-address, /healthz and /readyz on --health-probe-bind-address.

The API server it watches is --kubeconfig's, else $KUBECONFIG's, else ~/.kube/config's,
else the in-cluster service account's.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if code := serve(cmd.Context(), cmd.Flags(), &f, stderr); code != 0 {
				return &check.ExitError{Code: code}
			}
			return nil
		},
	}
	cmd.Flags().SortFlags = false
	f.register(cmd.Flags())
	return cmd
}

func serve(ctx context.Context, fs *pflag.FlagSet, f *serveFlags, stderr io.Writer) int {
	if f.configDir != "" {
		if err := applyConfigDir(fs, f.configDir); err != nil {
			fmt.Fprintln(stderr, "error: --config-dir:", err)
			return 2
		}
	}
	if err := f.complete(); err != nil {
		fmt.Fprintln(stderr, "error:", err)
		return 2
	}
	cfg, err := restConfig(f.kubeconfig)
	if err != nil {
		fmt.Fprintln(stderr, "error:", err)
		return 2
	}
	// The logger last: controller-runtime keeps the first logger it is given, so a
	// command line refused above leaves it unset (tests run serve many times).
	log, err := newLogger(stderr, f.logLevel)
	if err != nil {
		fmt.Fprintln(stderr, "error: --log-level:", err)
		return 2
	}
	f.opts.Log = log
	f.opts.Version = version // pullguard_build_info
	srv, err := server.New(cfg, f.opts)
	if err != nil {
		fmt.Fprintln(stderr, "error:", err)
		return 2
	}
	log.Info("pullguard starting", "version", version)
	if err := srv.Run(ctx); err != nil {
		log.Error("pullguard stopped", "error", err.Error())
		return 1
	}
	return 0
}

// restConfig loads the API server's address and credentials as kubectl does (--kubeconfig,
// $KUBECONFIG, ~/.kube/config) and, with none of them, in-cluster.
func restConfig(kubeconfig string) (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = kubeconfig
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	if clientcmd.IsEmptyConfig(err) {
		return nil, fmt.Errorf("no API server to watch: not running in a cluster (KUBERNETES_SERVICE_HOST is not set) and no kubeconfig: give --kubeconfig or set $KUBECONFIG")
	}
	if err != nil {
		return nil, fmt.Errorf("--kubeconfig: %w", err)
	}
	return cfg, nil
}

// applyConfigDir sets the flags not given on the command line from dir: one file per flag,
// named like it, one value per line (a ConfigMap mounted as a volume; its "..data" links
// are skipped).
func applyConfigDir(fs *pflag.FlagSet, dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	data := map[string]string{}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "..") {
			continue
		}
		raw, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return err
		}
		data[e.Name()] = string(raw)
	}
	_, err = check.ApplyConfig(fs, data, func(key string) bool { return key != "config-dir" })
	return err
}

// newLogger returns a JSON logger at level and routes controller-runtime's and client-go's
// logs through it, their verbosity mapped to slog levels (logger.go).
func newLogger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, err
	}
	h := verbosityHandler{slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l})}
	log := slog.New(h)
	ctrllog.SetLogger(logr.FromSlogHandler(h))
	klog.SetSlogLogger(log)
	setKlogVerbosity(l)
	return log, nil
}
