package check

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/netip"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"

	"github.com/pullguard/pullguard/pkg/admission/decision"
	"github.com/pullguard/pullguard/pkg/admission/manifest"
	"github.com/pullguard/pullguard/pkg/admission/state"
	"github.com/pullguard/pullguard/pkg/admission/verify"
	"github.com/pullguard/pullguard/pkg/registryauth"
	"github.com/pullguard/pullguard/pkg/registryauth/mirrors"
	"github.com/pullguard/pullguard/pkg/registryauth/probe"
	"github.com/pullguard/pullguard/pkg/registryauth/providerconfig"
)

// Exit codes.
const (
	ExitOK     = 0
	ExitDenied = 1
	ExitUsage  = 2
)

// Options are the flags of `webhook check`.
type Options struct {
	// Files are manifest files, directories (their subdirectories too with Recursive), URLs,
	// or "-" for stdin; Kustomize is a kustomization directory, built as kubectl -k does.
	Files     []string
	Recursive bool
	Kustomize string
	// Resources are TYPE/NAME arguments (pod/web, deployments, ...) read from the cluster,
	// narrowed by Selector or widened by AllNamespaces as for kubectl get; they imply Cluster.
	Resources     []string
	Selector      string
	AllNamespaces bool
	// Namespace is the namespace of objects that name none; empty: the kubeconfig
	// context's namespace, else "default", as for kubectl.
	Namespace string
	// PrivateRegistries always need a credential.
	PrivateRegistries registryauth.Patterns
	// InternalRegistries are OpenShift's internal registry hosts: the cross-project rule is
	// evaluated with the input's RoleBindings and ClusterRoles offline (or reported as not
	// checked offline), and with SubjectAccessReviews with Cluster.
	InternalRegistries registryauth.Patterns
	// NodeCredentialFiles are docker config.json files every node has.
	NodeCredentialFiles []string
	// NodeCredentialSecrets are namespace/name of pull secrets every node has
	// (openshift-config/pull-secret), read from the input files or, with Cluster, the cluster.
	NodeCredentialSecrets []string
	// ImageCredentialProviderConfig is the kubelet's CredentialProviderConfig.
	ImageCredentialProviderConfig string
	// DefaultMode and DefaultFailurePolicy are the policy of namespaces without the labels,
	// as serve's --default-mode and --default-failure-policy (empty: enforce and open).
	DefaultMode          decision.Mode
	DefaultFailurePolicy decision.FailurePolicy
	// Output is "text" (the default), "json" or "yaml".
	Output string
	// FailOn is what makes the exit code 1: "deny" (the default: anything denied,
	// including a workload's pods) or "warn" (admission warnings too).
	FailOn string
	// Cluster reads secrets, service accounts and namespaces of the objects' namespaces from
	// the cluster; manifests override what the cluster has. The cluster is Getter's (the
	// command's kubeconfig flags), else that of Kubeconfig and Context (the usual loading
	// rules when empty).
	Cluster    bool
	Kubeconfig string
	Context    string
	Getter     genericclioptions.RESTClientGetter
	// Verify asks the registries (off by default: offline means no network unless asked),
	// within VerifyTimeout per object, trusting RegistryCAFiles beside the system roots.
	Verify          bool
	VerifyTimeout   time.Duration
	RegistryCAFiles []string
	// VerifyMaxProbes bounds the probes of one object (default probe.DefaultMaxPerReview);
	// VerifyDenyNetworks are networks probes never connect to (nil: the default list, empty:
	// none), as for `webhook serve`.
	VerifyMaxProbes    int
	VerifyDenyNetworks []netip.Prefix
	// Runtime is whose mirror credential rules apply: "containerd" (the default) or "crio".
	// Mirrors come from the input's ImageDigestMirrorSets, ImageTagMirrorSets and
	// ImageContentSourcePolicies (with Cluster, also the cluster's), else from
	// RegistriesConf (CRI-O's registries.conf) or ContainerdHostsDir (hosts.toml per host).
	Runtime            string
	RegistriesConf     string
	ContainerdHostsDir string
}

// Fail-on levels.
const (
	FailOnDeny = "deny"
	FailOnWarn = "warn"
)

// Validate reports a usage error.
func (o *Options) Validate() error {
	if len(o.Files) == 0 && o.Kustomize == "" && len(o.Resources) == 0 && o.Selector == "" {
		return fmt.Errorf("no input: give -f FILE|DIR|URL|-, -k DIR, or TYPE/NAME (read from the cluster)")
	}
	switch o.Output {
	case "", "text", "json", "yaml":
	default:
		return fmt.Errorf("--output %q: want text, json or yaml", o.Output)
	}
	switch o.FailOn {
	case "", FailOnDeny, FailOnWarn:
	default:
		return fmt.Errorf("--fail-on %q: want deny or warn", o.FailOn)
	}
	if o.DefaultMode != "" {
		if _, err := decision.ParseMode(string(o.DefaultMode)); err != nil {
			return fmt.Errorf("--default-mode: %w", err)
		}
	}
	if o.DefaultFailurePolicy != "" {
		if _, err := decision.ParseFailurePolicy(string(o.DefaultFailurePolicy)); err != nil {
			return fmt.Errorf("--default-failure-policy: %w", err)
		}
	}
	if _, err := o.nodeMirrorFiles(); err != nil {
		return err
	}
	return nil
}

// nodeMirrorFiles are the runtime and its mirror files, as serve's flags name them (an
// empty Runtime is containerd, serve's default).
func (o *Options) nodeMirrorFiles() (state.NodeMirrorFiles, error) {
	f := state.NodeMirrorFiles{Runtime: mirrors.Containerd, RegistriesConf: o.RegistriesConf, ContainerdHostsDir: o.ContainerdHostsDir}
	if o.Runtime != "" {
		rt, err := mirrors.ParseRuntime(o.Runtime)
		if err != nil {
			return f, fmt.Errorf("--runtime: %w", err)
		}
		f.Runtime = rt
	}
	return f, f.Validate()
}

// getter returns the kubeconfig flags the cluster and the default namespace come from.
func (o *Options) getter() genericclioptions.RESTClientGetter {
	if o.Getter != nil {
		return o.Getter
	}
	f := genericclioptions.NewConfigFlags(true)
	f.KubeConfig, f.Context, f.Namespace = &o.Kubeconfig, &o.Context, &o.Namespace
	return f
}

// defaultNamespace is -n, else the kubeconfig context's namespace, else "default". Offline,
// a kubeconfig that cannot be loaded is no error: CI machines have none.
func (o *Options) defaultNamespace(g genericclioptions.RESTClientGetter) (string, error) {
	ns, _, err := g.ToRawKubeConfigLoader().Namespace()
	switch {
	case err != nil && o.Cluster:
		return "", err
	case err != nil || ns == "":
		if o.Namespace != "" {
			return o.Namespace, nil
		}
		return metav1.NamespaceDefault, nil
	}
	return ns, nil
}

// Run checks the manifests and writes the report to stdout; problems with the input go to
// stderr. It returns the exit code.
func Run(ctx context.Context, o Options, stdin io.Reader, stdout, stderr io.Writer) int {
	if err := o.Validate(); err != nil {
		fmt.Fprintln(stderr, "error:", err)
		return ExitUsage
	}
	if len(o.Resources) > 0 || o.Selector != "" {
		o.Cluster = true // objects that live in the cluster are decided with its secrets
	}
	g := o.getter()
	var err error
	if o.Cluster {
		if err := requireCluster(g); err != nil {
			fmt.Fprintln(stderr, "error:", err)
			return ExitUsage
		}
	}
	if o.Namespace, err = o.defaultNamespace(g); err != nil {
		fmt.Fprintln(stderr, "error:", clusterError(err))
		return ExitUsage
	}
	in := &input{
		files: o.Files, recursive: o.Recursive, kustomize: o.Kustomize,
		resources: o.Resources, selector: o.Selector, allNamespaces: o.AllNamespaces,
		namespace: o.Namespace, getter: g, stdin: stdin,
	}
	objs, err := in.read()
	if err != nil {
		fmt.Fprintln(stderr, "error:", clusterError(err))
		return ExitUsage
	}
	w := newWorld(o.PrivateRegistries)
	w.internal = o.InternalRegistries
	if o.ImageCredentialProviderConfig != "" {
		if w.providers, err = providerconfig.Load(o.ImageCredentialProviderConfig); err != nil {
			fmt.Fprintln(stderr, "error: --image-credential-provider-config:", err)
			return ExitUsage
		}
	}
	if o.Cluster {
		if err := w.loadCluster(ctx, g, namespaces(objs, o.Namespace), o.NodeCredentialSecrets); err != nil {
			fmt.Fprintln(stderr, "error:", clusterError(err))
			return ExitUsage
		}
		note := func(s string) { fmt.Fprintln(stderr, "note:", s) }
		if err := w.loadClusterMirrorSets(ctx, g, note); err != nil {
			fmt.Fprintln(stderr, "error:", clusterError(err))
			return ExitUsage
		}
	}
	for _, obj := range objs {
		ns := namespaceOf(obj, o.Namespace)
		switch v := obj.Value.(type) {
		case *mirrors.MirrorSet:
			w.addMirrorSet(*v)
		case *corev1.Secret:
			w.addSecret(ns, v)
		case *corev1.ServiceAccount:
			w.addServiceAccount(ns, v)
		case *corev1.Namespace:
			w.namespaces[v.Name] = v
		default:
			w.rbac.Add(v, ns)
		}
	}
	// The nodes' credentials in the order serve reads them: the secrets, then the files.
	for _, ref := range o.NodeCredentialSecrets {
		if err := w.addNodeCredentialsSecret(ref); err != nil {
			fmt.Fprintln(stderr, "error: --node-credentials:", err)
			return ExitUsage
		}
	}
	for _, path := range o.NodeCredentialFiles {
		if err := w.addNodeCredentialsFile(path); err != nil {
			fmt.Fprintln(stderr, "error:", err)
			return ExitUsage
		}
	}
	if err := w.buildMirrors(o, stderr); err != nil {
		fmt.Fprintln(stderr, "error:", err)
		return ExitUsage
	}
	var prober *probe.Prober
	if o.Verify {
		deny := o.VerifyDenyNetworks
		if deny == nil {
			deny = probe.MustParseNetworks(probe.DefaultDenyNetworks)
		}
		// One user's command has no tenants to share probes with: no namespace rate.
		if prober, err = probe.New(probe.Options{CAFiles: o.RegistryCAFiles, MaxPerReview: o.VerifyMaxProbes, DenyNetworks: deny, NamespaceRate: math.MaxFloat64}); err != nil {
			fmt.Fprintln(stderr, "error:", err)
			return ExitUsage
		}
		if o.VerifyTimeout <= 0 {
			o.VerifyTimeout = 3 * time.Second
		}
	}
	report := decide(ctx, objs, w, o, prober)
	switch o.Output {
	case "json":
		err = report.writeJSON(stdout)
	case "yaml":
		err = report.writeYAML(stdout)
	default:
		err = report.writeText(stdout)
	}
	if err != nil {
		fmt.Fprintln(stderr, "error:", err)
		return ExitUsage
	}
	if report.fails(o.FailOn) {
		return ExitDenied
	}
	return ExitOK
}

func decide(ctx context.Context, objs []manifest.Object, w *world, o Options, prober *probe.Prober) *report {
	defaults := decision.Policy{Mode: decision.Enforce, FailurePolicy: decision.FailOpen}
	if o.DefaultMode != "" {
		defaults.Mode = o.DefaultMode
	}
	if o.DefaultFailurePolicy != "" {
		defaults.FailurePolicy = o.DefaultFailurePolicy
	}
	r := newReport(o.Verify)
	for _, obj := range objs {
		ns := namespaceOf(obj, o.Namespace)
		p := w.policy(ns, defaults)
		ask := prober
		if p.Mode == decision.Off {
			// Admission never looks at it: the decision only names it, asking no registry.
			ask = nil
		}
		d, ok := verify.DecideWith(ctx, obj.Value, w.facts(ns), verify.Options{Prober: ask, Budget: o.VerifyTimeout, Access: w.access()})
		if !ok {
			continue
		}
		r.add(obj, d, p)
	}
	return r
}

// namespaces returns the namespaces of the objects to decide, each once.
func namespaces(objs []manifest.Object, def string) []string {
	seen := map[string]bool{}
	var out []string
	for _, obj := range objs {
		if !decision.Decidable(obj.Value) {
			continue
		}
		if ns := namespaceOf(obj, def); !seen[ns] {
			seen[ns] = true
			out = append(out, ns)
		}
	}
	return out
}

func namespaceOf(obj manifest.Object, def string) string {
	if m, err := meta.Accessor(obj.Value); err == nil && m.GetNamespace() != "" {
		return m.GetNamespace()
	}
	return def
}
