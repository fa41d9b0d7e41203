package check

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/pullguard/pullguard/pkg/admission/decision"
	"github.com/pullguard/pullguard/pkg/registryauth"
	"github.com/pullguard/pullguard/pkg/registryauth/mirrors"
	"github.com/pullguard/pullguard/pkg/registryauth/probe"
)

// ExitError carries a command's exit code; the command has already said why.
type ExitError struct{ Code int }

func (e *ExitError) Error() string { return fmt.Sprintf("exit code %d", e.Code) }

const long = `Decide manifests, or objects in a cluster, as pullguard's admission webhook would:
which pull secret each image uses, what pullguard would inject, and what it would deny.

Input as kubectl takes it: -f FILE, a directory (its subdirectories too with -R), a URL
or - for stdin (repeatable); -k DIR builds a kustomization; TYPE/NAME arguments (pod/web,
deployments, ...) are read from the cluster and imply --cluster. Objects without a
namespace are in -n, else the kubeconfig context's namespace.

Offline (the default), check knows only the input and its flags: an image no secret
matches is "not verified" unless --verify asks its registry or --private-registries names
it. --cluster also reads the namespaces' pull secrets, service accounts and labels, and
the server's settings from the ConfigMap --server-config (flags given win).

Exit codes: 0 nothing would be denied; 1 something would be denied, including the pods of
a workload (Deployment, Job, ...) whose template would be denied in its namespace
(--fail-on=warn: admission warnings too); 2 bad input or usage.`

const examples = `  # CI gate: fail the pipeline when anything would be denied
  %[1]s check -f deploy/ -R --private-registries 'registry.redhat.io,*.corp.example.com'

  # Why does this pod not pull? Decide it with the cluster's secrets and settings
  %[1]s check pod/web -n team-a

  # Check a kustomization against the cluster, as JSON
  %[1]s check -k overlays/prod --cluster -o json`

// NewCommand returns `check`; root is how the examples name the program ("webhook", or
// "kubectl pullguard" as a plugin).
func NewCommand(root string, streams genericiooptions.IOStreams) *cobra.Command {
	var o Options
	kube := configFlags()
	var (
		private      patterns
		internal     patterns
		mode, policy string
		serverConfig string
	)
	cmd := &cobra.Command{
		Use:     "check [-f FILENAME | -k DIRECTORY | TYPE/NAME ...] [flags]",
		Short:   "Decide manifests or cluster objects as admission would (a CI gate)",
		Long:    long,
		Example: fmt.Sprintf(examples, root),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Resources, o.Getter = args, kube
			if len(args) > 0 || o.Selector != "" {
				o.Cluster = true
			}
			if o.Cluster && serverConfig != "" {
				note := func(s string) { fmt.Fprintln(streams.ErrOut, "note:", s) }
				if err := applyServerConfig(cmd.Context(), kube, serverConfig, cmd.Flags(), note); err != nil {
					fmt.Fprintln(streams.ErrOut, "error:", err)
					return &ExitError{Code: ExitUsage}
				}
			}
			o.PrivateRegistries = private.patterns
			o.InternalRegistries = internal.patterns
			o.DefaultMode, o.DefaultFailurePolicy = decision.Mode(mode), decision.FailurePolicy(policy)
			if code := Run(cmd.Context(), o, streams.In, streams.Out, streams.ErrOut); code != ExitOK {
				return &ExitError{Code: code}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.SortFlags = false
	f.StringSliceVarP(&o.Files, "filename", "f", nil, "manifest file, directory, URL, or - for stdin (repeatable)")
	f.BoolVarP(&o.Recursive, "recursive", "R", false, "read the directories of -f recursively")
	f.StringVarP(&o.Kustomize, "kustomize", "k", "", "kustomization `directory` to build and check")
	f.StringVarP(&o.Selector, "selector", "l", "", "label `selector` of the objects TYPE arguments read from the cluster")
	f.BoolVarP(&o.AllNamespaces, "all-namespaces", "A", false, "read the objects TYPE arguments name from every namespace")
	f.StringVarP(&o.Output, "output", "o", "text", "output `format`: text, json or yaml")
	f.StringVar(&o.FailOn, "fail-on", FailOnDeny, "exit 1 on `level`: deny (anything denied, a workload's pods included) or warn (admission warnings too)")
	f.BoolVar(&o.Cluster, "cluster", false, "also read pull secrets, service accounts, namespaces and the server's settings from the cluster")
	f.StringVar(&serverConfig, "server-config", DefaultServerConfig, "`namespace/name` of the ConfigMap of the server's settings, read with --cluster (empty: none)")
	kube.AddFlags(f)
	f.Var(&private, "private-registries", "comma list of registry `globs` that always need credentials")
	f.Var(&internal, "internal-registries", "comma list of OpenShift internal registry `hosts` (host[:port]): cross-project pulls are checked against the input's RoleBindings, or with --cluster by SubjectAccessReview")
	f.StringArrayVar(&o.NodeCredentialSecrets, "node-credentials", nil, "`namespace/name` of a pull secret every node has, from the input or --cluster (repeatable)")
	f.StringArrayVar(&o.NodeCredentialFiles, "node-credentials-file", nil, "`path` of a docker config.json every node has (repeatable)")
	f.StringVar(&o.ImageCredentialProviderConfig, "image-credential-provider-config", "", "the kubelet's CredentialProviderConfig `file` (or directory): images its providers match are the nodes' to pull")
	f.StringVar(&o.Runtime, "runtime", string(mirrors.Containerd), "the nodes' container `runtime`, whose mirror and credential rules apply: crio (OpenShift) or containerd")
	f.StringVar(&o.RegistriesConf, "registries-conf", "", "CRI-O's registries.conf `file` as the nodes have it (mirror sets in the input, or with --cluster the cluster's, count too)")
	f.StringVar(&o.ContainerdHostsDir, "containerd-hosts-dir", "", "containerd's registry hosts `directory` (a hosts.toml per host) as the nodes have it")
	f.StringVar(&mode, "default-mode", string(decision.Enforce), "`mode` of namespaces without the "+decision.ModeLabel+" label: enforce, warn or off")
	f.StringVar(&policy, "default-failure-policy", string(decision.FailOpen), "`policy` of namespaces without the "+decision.FailurePolicyLabel+" label: open or closed")
	f.BoolVar(&o.Verify, "verify", false, "ask the registries whether credentials work and tags exist")
	f.DurationVar(&o.VerifyTimeout, "verify-timeout", 3*time.Second, "budget for the registry probes of one object")
	f.IntVar(&o.VerifyMaxProbes, "verify-max-probes", probe.DefaultMaxPerReview, "most registry probes one object may send; images past them are indeterminate")
	f.Func("verify-deny-networks", "comma list of `CIDRs` probes never connect to, checked on the resolved address; their images are decided by matching alone (default "+probe.DefaultDenyNetworks+")", func(s string) (err error) {
		o.VerifyDenyNetworks, err = probe.ParseNetworks(s)
		return err
	})
	f.StringArrayVar(&o.RegistryCAFiles, "registry-ca-file", nil, "PEM bundle `path` trusted for registry probes, beside the system roots (repeatable)")

	must(cmd.MarkFlagFilename("filename", "yaml", "yml", "json"))
	must(cmd.MarkFlagDirname("kustomize"))
	must(cmd.MarkFlagFilename("kubeconfig"))
	must(cmd.MarkFlagFilename("image-credential-provider-config"))
	must(cmd.MarkFlagFilename("node-credentials-file"))
	must(cmd.MarkFlagFilename("registry-ca-file"))
	must(cmd.MarkFlagFilename("registries-conf", "conf"))
	must(cmd.MarkFlagDirname("containerd-hosts-dir"))
	fixed := func(values ...string) cobra.CompletionFunc {
		return cobra.FixedCompletions(values, cobra.ShellCompDirectiveNoFileComp)
	}
	must(cmd.RegisterFlagCompletionFunc("output", fixed("text", "json", "yaml")))
	must(cmd.RegisterFlagCompletionFunc("fail-on", fixed(FailOnDeny, FailOnWarn)))
	must(cmd.RegisterFlagCompletionFunc("runtime", fixed(string(mirrors.CRIO), string(mirrors.Containerd))))
	must(cmd.RegisterFlagCompletionFunc("default-mode", fixed(string(decision.Enforce), string(decision.Warn), string(decision.Off))))
	must(cmd.RegisterFlagCompletionFunc("default-failure-policy", fixed(string(decision.FailOpen), string(decision.FailClosed))))
	must(cmd.RegisterFlagCompletionFunc("context", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		raw, err := kube.ToRawKubeConfigLoader().RawConfig()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var names []string
		for name := range raw.Contexts {
			names = append(names, name)
		}
		return names, cobra.ShellCompDirectiveNoFileComp
	}))
	return cmd
}

// configFlags are kubectl's kubeconfig flags that matter to a read-only check. --cluster
// (kubectl's kubeconfig cluster name) is left out: here it means "read the cluster".
func configFlags() *genericclioptions.ConfigFlags {
	f := genericclioptions.NewConfigFlags(true)
	f.ClusterName = nil
	f.APIServer, f.TLSServerName, f.Insecure, f.CertFile, f.KeyFile, f.CAFile = nil, nil, nil, nil, nil, nil
	f.BearerToken, f.Username, f.Password = nil, nil, nil
	f.Impersonate, f.ImpersonateUID, f.ImpersonateGroup, f.ImpersonateUserExtra = nil, nil, nil, nil
	f.DisableCompression, f.ProxyURL, f.CacheDir = nil, nil, nil
	return f
}

// patterns is --private-registries: a comma list of registry globs; repeating the flag adds
// to the list.
type patterns struct{ patterns registryauth.Patterns }

func (p *patterns) String() string { return p.patterns.String() }

func (p *patterns) Set(v string) error {
	ps, err := registryauth.ParsePatterns(v)
	if err != nil {
		return err
	}
	p.patterns = append(p.patterns, ps...)
	return nil
}

func (p *patterns) Type() string { return "globs" }

func must(err error) {
	if err != nil {
		panic(err)
	}
}
