package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/pullguard/pullguard/pkg/admission/check"
	"github.com/pullguard/pullguard/pkg/registryauth/probe"
)

func runCheck(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("webhook check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		files     stringList
		nodeFiles stringList
		private   patternsFlag
		o         check.Options
	)
	fs.Var(&files, "f", "manifest `file`, directory, or - for stdin (repeatable)")
	fs.Var(&files, "filename", "same as -f")
	fs.StringVar(&o.Namespace, "namespace", "default", "namespace of objects that name none")
	fs.StringVar(&o.Namespace, "n", "default", "same as --namespace")
	fs.Var(&private, "private-registries", "comma list of registry `globs` that always need credentials")
	fs.Var(&nodeFiles, "node-credentials-file", "`path` of a docker config.json every node has (repeatable)")
	var nodeSecrets stringList
	fs.Var(&nodeSecrets, "node-credentials", "`namespace/name` of a pull secret every node has, from the input or --cluster (repeatable)")
	fs.StringVar(&o.ImageCredentialProviderConfig, "image-credential-provider-config", "", "the kubelet's CredentialProviderConfig `file` (or directory): images its providers match are the nodes' to pull")
	fs.StringVar(&o.Output, "o", "text", "output `format`: text or json")
	var cas stringList
	fs.BoolVar(&o.Verify, "verify", false, "ask the registries whether credentials work and tags exist")
	fs.DurationVar(&o.VerifyTimeout, "verify-timeout", 3*time.Second, "budget for the registry probes of one object")
	fs.IntVar(&o.VerifyMaxProbes, "verify-max-probes", probe.DefaultMaxPerReview, "most registry probes one object may send; images past them are indeterminate")
	fs.Func("verify-deny-networks", "comma list of `CIDRs` probes never connect to, checked on the resolved address; their images are decided by matching alone (default "+probe.DefaultDenyNetworks+")", func(s string) (err error) {
		o.VerifyDenyNetworks, err = probe.ParseNetworks(s)
		return err
	})
	fs.Var(&cas, "registry-ca-file", "PEM bundle `path` trusted for registry probes, beside the system roots (repeatable)")
	fs.BoolVar(&o.Cluster, "cluster", false, "also read secrets, service accounts and namespaces from the cluster")
	fs.StringVar(&o.Kubeconfig, "kubeconfig", "", "`path` of the kubeconfig for --cluster (default: $KUBECONFIG or ~/.kube/config)")
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: webhook check -f FILE|DIR|- [-f ...] [flags]\n\nExit codes: 0 nothing would be denied, 1 something would be denied, 2 bad input or usage.\n\nFlags:\n")
		printFlags(stderr, fs)
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return check.ExitOK
		}
		return check.ExitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "error: unexpected arguments %q (give files with -f)\n", fs.Args())
		return check.ExitUsage
	}
	o.Files, o.NodeCredentialFiles, o.NodeCredentialSecrets, o.PrivateRegistries = files, nodeFiles, nodeSecrets, private.patterns
	o.RegistryCAFiles = cas
	return check.Run(ctx, o, stdin, stdout, stderr)
}
