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

	"github.com/pullguard/pullguard/pkg/admission/decision"
	"github.com/pullguard/pullguard/pkg/admission/manifest"
	"github.com/pullguard/pullguard/pkg/admission/verify"
	"github.com/pullguard/pullguard/pkg/registryauth"
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
	// Files are manifest files, directories, or "-" for stdin.
	Files []string
	// Namespace is the namespace of objects that name none (default "default").
	Namespace string
	// PrivateRegistries always need a credential.
	PrivateRegistries registryauth.Patterns
	// NodeCredentialFiles are docker config.json files every node has.
	NodeCredentialFiles []string
	// NodeCredentialSecrets are namespace/name of pull secrets every node has
	// (openshift-config/pull-secret), read from the input files or, with Cluster, the cluster.
	NodeCredentialSecrets []string
	// ImageCredentialProviderConfig is the kubelet's CredentialProviderConfig.
	ImageCredentialProviderConfig string
	// Output is "text" or "json".
	Output string
	// Cluster reads secrets, service accounts and namespaces of the objects' namespaces from
	// the cluster of Kubeconfig (the usual loading rules when empty); manifests override
	// what the cluster has.
	Cluster    bool
	Kubeconfig string
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
}

// Validate reports a usage error.
func (o *Options) Validate() error {
	if len(o.Files) == 0 {
		return fmt.Errorf("no input: give -f FILE, -f DIR or -f -")
	}
	switch o.Output {
	case "", "text", "json":
	default:
		return fmt.Errorf("-o %q: want text or json", o.Output)
	}
	return nil
}

// Run checks the manifests and writes the report to stdout; problems with the input go to
// stderr. It returns the exit code.
func Run(ctx context.Context, o Options, stdin io.Reader, stdout, stderr io.Writer) int {
	if err := o.Validate(); err != nil {
		fmt.Fprintln(stderr, "error:", err)
		return ExitUsage
	}
	if o.Namespace == "" {
		o.Namespace = "default"
	}
	objs, err := manifest.Read(o.Files, stdin)
	if err != nil {
		fmt.Fprintln(stderr, "error:", err)
		return ExitUsage
	}
	w := newWorld(o.PrivateRegistries)
	if o.ImageCredentialProviderConfig != "" {
		if w.providers, err = providerconfig.Load(o.ImageCredentialProviderConfig); err != nil {
			fmt.Fprintln(stderr, "error: --image-credential-provider-config:", err)
			return ExitUsage
		}
	}
	if o.Cluster {
		if err := w.loadCluster(ctx, o.Kubeconfig, namespaces(objs, o.Namespace), o.NodeCredentialSecrets); err != nil {
			fmt.Fprintln(stderr, "error:", err)
			return ExitUsage
		}
	}
	for _, obj := range objs {
		ns := namespaceOf(obj, o.Namespace)
		switch v := obj.Value.(type) {
		case *corev1.Secret:
			w.addSecret(ns, v)
		case *corev1.ServiceAccount:
			w.addServiceAccount(ns, v)
		case *corev1.Namespace:
			w.namespaces[v.Name] = v
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
	if o.Output == "json" {
		err = report.writeJSON(stdout)
	} else {
		err = report.writeText(stdout)
	}
	if err != nil {
		fmt.Fprintln(stderr, "error:", err)
		return ExitUsage
	}
	if report.denied() {
		return ExitDenied
	}
	return ExitOK
}

func decide(ctx context.Context, objs []manifest.Object, w *world, o Options, prober *probe.Prober) *report {
	defaults := decision.Policy{Mode: decision.Enforce, FailurePolicy: decision.FailOpen}
	r := &report{}
	for _, obj := range objs {
		ns := namespaceOf(obj, o.Namespace)
		p := w.policy(ns, defaults)
		ask := prober
		if p.Mode == decision.Off {
			// Admission never looks at it: the decision only names it, asking no registry.
			ask = nil
		}
		d, ok := verify.Decide(ctx, obj.Value, w.facts(ns), ask, o.VerifyTimeout)
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
