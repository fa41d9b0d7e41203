// Package node proves pullguard's promise on a real node: a kubelet (v1.37.2) with
// containerd pulls from real registries, one of them through a mirror its hosts.toml names,
// so a pod pullguard admits runs, and a pod it denies is shown to fail to pull where
// pullguard is off.
package node

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/pullguard/pullguard/pkg/admission/decision"
	"github.com/pullguard/pullguard/pkg/admission/server"
	"github.com/pullguard/pullguard/pkg/admission/state"
	"github.com/pullguard/pullguard/pkg/registryauth/mirrors"
	"github.com/pullguard/pullguard/test/harness"
)

const (
	user          = "ci-bot"
	password      = "not-a-real-password-node"
	stalePassword = "not-a-real-password-stale"
	// mirrorPassword is the test user's password at mirror, which mirrorSource refuses.
	mirrorPassword = "not-a-real-password-mirror"
	// providerName is the test's exec credential provider plugin (test/harness/credprovider).
	providerName = "pullguard-test-provider"
)

var (
	cluster          *harness.Cluster
	node             *harness.Node
	basic, anonymous *harness.Registry
	// nodeReg is a private registry the node's own config.json has a valid credential for;
	// staleReg one it has a stale credential for; providerReg one only the kubelet's
	// credential provider plugin answers for. Each is its own host, so the node's
	// credentials never reach the tests of basic.
	nodeReg, staleReg, providerReg *harness.Registry
	// mirrorSource is a private registry whose hosts.toml (containerd's config_path, and
	// pullguard's --containerd-hosts-dir) sends its pulls to mirror first. Both hold the
	// same images; the test user's password differs between them.
	mirrorSource, mirror *harness.Registry
	// registryTLS trusts the test registries, for the test's own requests.
	registryTLS *harness.TLS
	summary     = &tally{}
)

// tally counts what the test saw, for its one-line summary.
type tally struct {
	admitted, ran, denied, wouldFail int
	// offRan counts admitted pods that also ran where pullguard is off (so pullguard did
	// not stand in their way); offFailed those that failed to pull there (pullguard's
	// injection is what made them run).
	offRan, offFailed int
	// mirrored counts the pods, admitted or denied, whose image containerd pulls through
	// a hosts.toml mirror.
	mirrored int
}

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	fail := func(err error) int { fmt.Fprintln(os.Stderr, "node:", err); return 1 }
	ctx := context.Background()
	start := time.Now()
	dir, err := os.MkdirTemp("", "pullguard-node-")
	if err != nil {
		return fail(err)
	}
	defer os.RemoveAll(dir)
	tlsFiles, err := harness.NewTLS(dir)
	if err != nil {
		return fail(err)
	}
	registryTLS = tlsFiles
	if basic, err = harness.StartRegistry(dir+"/basic", tlsFiles, harness.RegistryAuth{Users: map[string]string{user: password}}); err != nil {
		return fail(err)
	}
	defer basic.Stop()
	if anonymous, err = harness.StartRegistry(dir+"/anonymous", tlsFiles, harness.RegistryAuth{}); err != nil {
		return fail(err)
	}
	defer anonymous.Stop()
	pause, err := harness.PauseImage(dir)
	if err != nil {
		return fail(err)
	}
	sandbox, err := anonymous.PushImage(ctx, pause, "pullguard/pause:1", "", "")
	if err != nil {
		return fail(err)
	}
	if _, err := anonymous.PushImage(ctx, pause, "acme/app:1.0", "", ""); err != nil {
		return fail(err)
	}
	if _, err := basic.PushImage(ctx, pause, "acme/app:1.0", user, password); err != nil {
		return fail(err)
	}
	for name, r := range map[string]**harness.Registry{"node": &nodeReg, "stale": &staleReg, "provider": &providerReg} {
		if *r, err = harness.StartRegistry(dir+"/"+name, tlsFiles, harness.RegistryAuth{Users: map[string]string{user: password}}); err != nil {
			return fail(err)
		}
		defer (*r).Stop()
		if _, err := (*r).PushImage(ctx, pause, "acme/app:1.0", user, password); err != nil {
			return fail(err)
		}
	}
	if mirrorSource, err = harness.StartRegistry(dir+"/mirror-source", tlsFiles, harness.RegistryAuth{Users: map[string]string{user: password}}); err != nil {
		return fail(err)
	}
	defer mirrorSource.Stop()
	if mirror, err = harness.StartRegistry(dir+"/mirror", tlsFiles, harness.RegistryAuth{Users: map[string]string{user: mirrorPassword}}); err != nil {
		return fail(err)
	}
	defer mirror.Stop()
	for _, repo := range []string{mirroredRepo, mirroredRefusedRepo} {
		if _, err := mirrorSource.PushImage(ctx, pause, repo, user, password); err != nil {
			return fail(err)
		}
		if _, err := mirror.PushImage(ctx, pause, repo, user, mirrorPassword); err != nil {
			return fail(err)
		}
	}
	// One registry directory for containerd (config_path) and pullguard
	// (--containerd-hosts-dir), as an admin would mount the node's into pullguard.
	hostsDir := filepath.Join(dir, "containerd-hosts")
	if err := harness.WriteHostsToml(hostsDir, mirrorSource.Host, tlsFiles.CAFile, mirror.Host); err != nil {
		return fail(err)
	}
	// The node's own config.json: valid for nodeReg, stale for staleReg. pullguard is told
	// the same with --node-credentials-file, as an admin would.
	nodeConfig := filepath.Join(dir, "node-config.json")
	if err := os.WriteFile(nodeConfig, dockerConfig(map[string]string{nodeReg.Host: password, staleReg.Host: stalePassword}), 0o600); err != nil {
		return fail(err)
	}
	providers, providerBin, err := harness.CredentialProviderConfig(dir, providerName, []string{providerReg.Host}, user, password)
	if err != nil {
		return fail(err)
	}

	if cluster, err = harness.StartCluster(); err != nil {
		return fail(err)
	}
	defer cluster.Stop()
	webhook, err := cluster.StartWebhook(ctx, server.Options{
		Defaults:          decision.Policy{Mode: decision.Enforce, FailurePolicy: decision.FailOpen},
		ExcludeNamespaces: server.DefaultExclude,
		Verify:            true,
		VerifyTimeout:     3 * time.Second,
		RegistryCAFiles:   []string{tlsFiles.CAFile},
		// The test's registries are on loopback, which probes may not reach by default.
		VerifyDenyNetworks:            []netip.Prefix{},
		NodeCredentialFiles:           []string{nodeConfig},
		ImageCredentialProviderConfig: providers,
		Mirrors:                       state.NodeMirrorFiles{Runtime: mirrors.Containerd, ContainerdHostsDir: hostsDir},
	}, nil)
	if err != nil {
		return fail(err)
	}
	defer webhook.Stop()
	rawConfig, err := os.ReadFile(nodeConfig)
	if err != nil {
		return fail(err)
	}
	if node, err = cluster.StartNode(ctx, harness.NodeOptions{
		SandboxImage: sandbox, CAFile: tlsFiles.CAFile,
		Registries:   []string{basic.Host, anonymous.Host, nodeReg.Host, staleReg.Host, providerReg.Host, mirrorSource.Host, mirror.Host},
		DockerConfig: rawConfig, CredentialProviderConfig: providers, CredentialProviderBinDir: providerBin,
		RegistryConfigPath: hostsDir,
	}); err != nil {
		return fail(err)
	}
	defer func() {
		if err := node.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "node: stopping:", err)
		}
	}()
	fmt.Fprintf(os.Stderr, "node: registries, cluster, webhook and node up in %s\n", time.Since(start).Round(time.Millisecond))
	code := m.Run()
	fmt.Printf("node summary: %d pods admitted, %d ran; %d pods denied, %d would have failed to pull (shown where pullguard is off); "+
		"of the admitted, %d also ran where pullguard is off and %d failed to pull there; %d of all through a hosts.toml mirror\n",
		summary.admitted, summary.ran, summary.denied, summary.wouldFail, summary.offRan, summary.offFailed, summary.mirrored)
	if logs := webhook.Logs(); strings.Contains(logs, password) || strings.Contains(logs, stalePassword) || strings.Contains(logs, mirrorPassword) {
		return fail(fmt.Errorf("the webhook logged a test password"))
	}
	return code
}

func namespace(t *testing.T, name string, labels map[string]string) string {
	return cluster.Namespace(t, name, labels)
}

func pullSecret(t *testing.T, ns, name, registry, pass string) {
	cluster.CreatePullSecret(t, ns, name, registry, user, pass)
}

// nodePod is a pod the test node can run: host network, placed on the node, no token.
func nodePod(name, image string, secrets ...string) *corev1.Pod {
	no := false
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{
			NodeName:                      node.Name,
			HostNetwork:                   true,
			AutomountServiceAccountToken:  &no,
			RestartPolicy:                 corev1.RestartPolicyNever,
			TerminationGracePeriodSeconds: new(int64),
			Containers:                    []corev1.Container{{Name: "app", Image: image, ImagePullPolicy: corev1.PullAlways}},
		},
	}
	for _, s := range secrets {
		p.Spec.ImagePullSecrets = append(p.Spec.ImagePullSecrets, corev1.LocalObjectReference{Name: s})
	}
	return p
}

func create(t *testing.T, ns string, p *corev1.Pod) (*corev1.Pod, error) {
	t.Helper()
	return cluster.Client.CoreV1().Pods(ns).Create(context.Background(), p, metav1.CreateOptions{})
}

// outcome waits until the pod runs or its image fails to pull, and says which.
func outcome(t *testing.T, ns, name string) string {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		p, err := cluster.Client.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, cs := range p.Status.ContainerStatuses {
			if cs.State.Running != nil {
				return "Running"
			}
			if w := cs.State.Waiting; w != nil && (w.Reason == "ErrImagePull" || w.Reason == "ImagePullBackOff") {
				return "PullFailed: " + w.Message
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("pod %s/%s neither ran nor failed to pull in 90s\n%s", ns, name, node.Log(30))
	return ""
}

func assertRuns(t *testing.T, ns, name string) {
	t.Helper()
	if got := outcome(t, ns, name); got != "Running" {
		t.Fatalf("pod %s/%s: %s", ns, name, got)
	}
	summary.ran++
}

func assertPullFails(t *testing.T, ns, name string) string {
	t.Helper()
	got := outcome(t, ns, name)
	if !strings.HasPrefix(got, "PullFailed") {
		t.Fatalf("pod %s/%s: %s, want a failed pull", ns, name, got)
	}
	return got
}

// dockerConfig returns a docker config.json with the test user and each registry's password.
func dockerConfig(passwords map[string]string) []byte {
	auths := map[string]map[string]string{}
	for host, pass := range passwords {
		auths[host] = map[string]string{"auth": base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))}
	}
	raw, _ := json.Marshal(map[string]any{"auths": auths})
	return raw
}
