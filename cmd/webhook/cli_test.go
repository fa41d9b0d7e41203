package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
)

// TestCLIGolden pins the command tree as users meet it: help on stdout (so `webhook check
// --help | grep verify` works), errors on stderr naming flags as --flag with a pointer to
// --help and exit code 2, and the kubectl plugin's own help.
func TestCLIGolden(t *testing.T) {
	runGolden(t, "cli", []goldenCase{
		{name: "help", args: []string{"--help"}},
		{name: "help-command", args: []string{"help"}},
		{name: "check-help", args: []string{"check", "--help"}},
		{name: "unknown-command", args: []string{"frobnicate"}, exit: 2},
		{name: "version-extra-argument", args: []string{"version", "extra"}, exit: 2},
		{name: "serve-unknown-flag", args: []string{"serve", "--no-such-flag"}, exit: 2},
		{name: "serve-bad-mode", args: []string{"--default-mode=enforcing"}, exit: 2},
		{name: "plugin-help", prog: "kubectl-pullguard", args: []string{"--help"}},
		// A plugin never serves by default: kubectl pullguard alone prints its help.
		{name: "plugin-no-args", prog: "kubectl-pullguard"},
		{name: "plugin-check-help", prog: "kubectl-pullguard", args: []string{"check", "-h"}},
		{name: "oc-plugin-check-no-input", prog: "oc-pullguard", args: []string{"check"}, exit: 2},
	})
}

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}} {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), args, nil, &stdout, &stderr); code != 0 || stdout.String() != version+"\n" || stderr.Len() > 0 {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want %q", args, code, stdout.String(), stderr.String(), version)
		}
	}
}

// TestBuildVersion: without -ldflags, the version is what the go command stamped: the
// module version (go install module@v1.2.3, or a pseudo-version from the VCS), else the
// VCS revision, else "dev".
func TestBuildVersion(t *testing.T) {
	info := func(version string, settings ...debug.BuildSetting) func() (*debug.BuildInfo, bool) {
		return func() (*debug.BuildInfo, bool) {
			return &debug.BuildInfo{Main: debug.Module{Path: "github.com/pullguard/pullguard", Version: version}, Settings: settings}, true
		}
	}
	rev := debug.BuildSetting{Key: "vcs.revision", Value: "25801eeaab36059c5dd5831b6be50ed0bd57a28c"}
	tests := []struct {
		name    string
		ldflags string
		read    func() (*debug.BuildInfo, bool)
		want    string
	}{
		{"ldflags win", "v1.2.3", info("v9.9.9"), "v1.2.3"},
		{"go install module@version", "", info("v1.4.0"), "v1.4.0"},
		{"pseudo-version from the VCS", "", info("v0.0.0-20261127045203-25801eeaab36+dirty", rev), "v0.0.0-20261127045203-25801eeaab36+dirty"},
		{"devel with a revision", "", info("(devel)", rev), "devel-25801eeaab36"},
		{"devel with a modified revision", "", info("(devel)", rev, debug.BuildSetting{Key: "vcs.modified", Value: "true"}), "devel-25801eeaab36-dirty"},
		{"devel without VCS", "", info("(devel)"), "dev"},
		{"no build info", "", func() (*debug.BuildInfo, bool) { return nil, false }, "dev"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := buildVersion(tt.ldflags, tt.read); got != tt.want {
				t.Errorf("buildVersion = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestServeFlags: every flag of SPEC section 2 is a flag of serve, spelled --name, and
// `webhook` followed by flags alone still serves (the server is the default command).
func TestServeFlags(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"serve", "--help"}, nil, &stdout, &stderr); code != 0 {
		t.Fatalf("serve --help: exit %d: %s", code, stderr.String())
	}
	for _, flag := range []string{"kubeconfig", "bind-address", "tls-cert-file", "tls-key-file", "metrics-bind-address",
		"health-probe-bind-address", "default-mode", "default-failure-policy", "node-credentials", "node-credentials-file",
		"verify", "verify-timeout", "private-registries", "registry-ca-file", "exclude-namespaces",
		"image-credential-provider-config", "verify-max-probes", "verify-deny-networks", "client-ca-file", "drain-delay",
		"config-dir", "runtime", "registries-conf", "containerd-hosts-dir"} {
		if !strings.Contains(stdout.String(), "--"+flag+" ") {
			t.Errorf("serve --help lacks --%s", flag)
		}
	}
	stdout.Reset()
	stderr.Reset()
	// Flags without a command are serve's: an invalid value is reported by serve.
	if code := run(context.Background(), []string{"--verify-timeout=0s"}, nil, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), "--verify-timeout must be positive") {
		t.Errorf("webhook --verify-timeout=0s: exit %d, %q", code, stderr.String())
	}
}

// TestServeMirrorFlags: the runtime and its mirror files are checked before serving; a
// file that does not parse stops the start, naming the file and the line.
func TestServeMirrorFlags(t *testing.T) {
	const kubeconfig = "--kubeconfig=testdata/check/kubeconfig.yaml"
	for _, tt := range []struct {
		args []string
		want []string
	}{
		{[]string{"--runtime=docker"}, []string{`--runtime: runtime "docker": want crio or containerd`}},
		{[]string{"--registries-conf=testdata/check/registries.conf"}, []string{"--registries-conf is CRI-O's"}},
		{[]string{"--runtime=crio", "--containerd-hosts-dir=testdata/check"}, []string{"--containerd-hosts-dir is containerd's"}},
		{[]string{"--runtime=crio", "--registries-conf=testdata/check/bad-registries.conf"}, []string{"--registries-conf testdata/check/bad-registries.conf", "line 3"}},
		{[]string{"--runtime=containerd", "--containerd-hosts-dir=testdata/check/no-such-dir"}, []string{"--containerd-hosts-dir testdata/check/no-such-dir"}},
	} {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), append([]string{"serve", kubeconfig}, tt.args...), nil, &stdout, &stderr)
		if code != 2 {
			t.Errorf("%v: exit %d, want 2: %s", tt.args, code, stderr.String())
		}
		for _, w := range tt.want {
			if !strings.Contains(stderr.String(), w) {
				t.Errorf("%v: stderr %q lacks %q", tt.args, stderr.String(), w)
			}
		}
	}
}

// TestServeWithoutCluster: with no kubeconfig and not in a cluster, serve says so (not
// client-go's "set KUBERNETES_MASTER"); $KUBECONFIG is honoured.
func TestServeWithoutCluster(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"serve"}, nil, &stdout, &stderr)
	if code != 2 || !strings.Contains(stderr.String(), "no API server to watch: not running in a cluster") || strings.Contains(stderr.String(), "KUBERNETES_MASTER") {
		t.Errorf("exit %d, stderr %q", code, stderr.String())
	}
	// $KUBECONFIG is a list; files that do not exist are skipped, as kubectl skips them.
	t.Setenv("KUBECONFIG", "testdata/check/no-such-kubeconfig.yaml:testdata/check/kubeconfig.yaml")
	cfg, err := restConfig("")
	if err != nil {
		t.Fatalf("with $KUBECONFIG: %v", err)
	}
	if cfg.Host != "https://127.0.0.1:1" {
		t.Errorf("with $KUBECONFIG: host %q, want the current context's server", cfg.Host)
	}
	if _, err := restConfig("testdata/check/no-such-kubeconfig.yaml"); err == nil || !strings.Contains(err.Error(), "--kubeconfig") {
		t.Errorf("--kubeconfig that does not exist: %v", err)
	}
}

func TestCompletion(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish", "powershell"} {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), []string{"completion", shell}, nil, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), "webhook") {
			t.Errorf("completion %s: exit %d, %d bytes, stderr %q", shell, code, stdout.Len(), stderr.String())
		}
	}
	// What the shell asks for -o: the formats, and no file names.
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"__complete", "check", "-o", ""}, nil, &stdout, &stderr); code != 0 || !strings.HasPrefix(stdout.String(), "text\njson\nyaml\n:4\n") {
		t.Errorf("__complete check -o: exit %d, %q", code, stdout.String())
	}
}

// TestServeConfigDir: --config-dir sets the flags the command line did not, one file per
// flag as a mounted ConfigMap lays them out (its "..data" entries skipped); a file that
// names no flag is an error.
func TestServeConfigDir(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"private-registries":     "registry.redhat.io,*.corp.example.com\n",
		"node-credentials":       "openshift-config/pull-secret\nkube-system/node-pull\n",
		"default-failure-policy": "closed",
		"verify":                 "false",
		"verify-timeout":         "", // empty: left at its default
		"..data":                 "ignored",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := newServeCommand(io.Discard)
	if err := cmd.ParseFlags([]string{"--default-failure-policy=open", "--config-dir", dir}); err != nil {
		t.Fatal(err)
	}
	if err := applyConfigDir(cmd.Flags(), dir); err != nil {
		t.Fatal(err)
	}
	for flag, want := range map[string]string{
		"private-registries":     "registry.redhat.io,*.corp.example.com",
		"node-credentials":       "openshift-config/pull-secret,kube-system/node-pull",
		"default-failure-policy": "open", // the command line wins
		"verify":                 "false",
		"verify-timeout":         "3s",
	} {
		if got := cmd.Flags().Lookup(flag).Value.String(); got != want {
			t.Errorf("--%s = %q, want %q", flag, got, want)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "private-registry"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := applyConfigDir(newServeCommand(io.Discard).Flags(), dir); err == nil || !strings.Contains(err.Error(), `"private-registry" is not a flag`) {
		t.Errorf("a file that names no flag: %v", err)
	}
}
