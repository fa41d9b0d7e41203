// Command webhook is pullguard: the admission webhook (`webhook serve`, the default), the
// offline and cluster checker (`webhook check`) and `webhook version`. Installed as
// kubectl-pullguard (or oc-pullguard) it is a kubectl/oc plugin: `kubectl pullguard check`.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/pullguard/pullguard/pkg/admission/check"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := runAs(ctx, filepath.Base(os.Args[0]), os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run runs the webhook binary's command line and returns the exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return runAs(ctx, "webhook", args, stdin, stdout, stderr)
}

// runAs runs a command line for the program named name: as kubectl-pullguard or
// oc-pullguard it is a plugin, which never serves by default.
func runAs(ctx context.Context, name string, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	name = strings.TrimSuffix(name, ".exe")
	plugin := pluginHost(name)
	if !plugin && servesByDefault(args) {
		args = append([]string{"serve"}, args...)
	}
	root := newRoot(name, plugin, genericiooptions.IOStreams{In: stdin, Out: stdout, ErrOut: stderr})
	root.SetArgs(append([]string{}, args...)) // never nil: cobra would read os.Args
	cmd, err := root.ExecuteContextC(ctx)
	var exit *check.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &exit):
		return exit.Code
	}
	// Anything else is a command line cobra or pflag refused: name it and point at --help.
	fmt.Fprintf(stderr, "error: %v\nSee '%s --help' for usage.\n", err, cmd.CommandPath())
	return check.ExitUsage
}

// pluginHost reports whether name is a kubectl or oc plugin's ("kubectl-pullguard").
func pluginHost(name string) bool {
	host, plugin, ok := strings.Cut(name, "-")
	return ok && plugin == "pullguard" && (host == "kubectl" || host == "oc")
}

// servesByDefault: `webhook` alone, or followed by flags, is `webhook serve` (SPEC section 2).
func servesByDefault(args []string) bool {
	if len(args) == 0 {
		return true
	}
	switch a := args[0]; {
	case a == "-h" || a == "--help" || a == "--version":
		return false
	default:
		return strings.HasPrefix(a, "-")
	}
}

func newRoot(name string, plugin bool, streams genericiooptions.IOStreams) *cobra.Command {
	display := name
	if plugin {
		display = strings.Replace(name, "-", " ", 1) // kubectl-pullguard: "kubectl pullguard"
	}
	root := &cobra.Command{
		Use:   name,
		Short: "pullguard: an admission webhook that makes image pulls work, or says why they will not",
		Long: `pullguard injects the pull secret a pod needs from its namespace, or denies a pod or
BuildConfig whose images will not pull, with the command that fixes it.

'` + display + ` check' decides manifests or cluster objects as admission would: a CI gate, and a way
to debug a pull failure (` + display + ` check pod/NAME -n NAMESPACE).`,
		Version:       version,
		SilenceErrors: true,
		SilenceUsage:  true,
		Annotations:   map[string]string{cobra.CommandDisplayNameAnnotation: display},
	}
	if !plugin {
		root.Long += "\n\nWith no command, or only flags, it runs 'serve'."
	}
	root.SetIn(streams.In)
	root.SetOut(streams.Out)
	root.SetErr(streams.ErrOut)
	root.SetVersionTemplate("{{.Version}}\n")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return err })
	serve := newServeCommand(streams.ErrOut)
	serve.Hidden = plugin // a plugin checks; the server runs in the cluster
	root.AddCommand(serve, check.NewCommand(display, streams), newVersionCommand())
	return root
}

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintln(cmd.OutOrStdout(), version)
		},
	}
}
