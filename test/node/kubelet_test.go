package node

import (
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	corev1 "k8s.io/api/core/v1"

	"github.com/pullguard/pullguard/test/harness"
)

// Issue 10: pods the kubelet runs are never denied. Each case is created twice: where
// pullguard enforces (admitted, and it runs) and where pullguard is off (what the kubelet
// does on its own).

// twice creates the pod where pullguard enforces and where it is off, each namespace first
// prepared by setup, and returns the enforced pod as admitted and how the other ended.
func twice(t *testing.T, name string, setup func(ns string), pod func() *corev1.Pod) (*corev1.Pod, string) {
	t.Helper()
	enforce := namespace(t, name, nil)
	off := namespace(t, name+"-off", map[string]string{"pullguard.io/mode": "off"})
	setup(enforce)
	setup(off)
	admitted, err := create(t, enforce, pod())
	if err != nil {
		t.Fatalf("pullguard denied a pod the kubelet runs: %v", err)
	}
	summary.admitted++
	assertRuns(t, enforce, admitted.Name)
	p := pod()
	if _, err := create(t, off, p); err != nil {
		t.Fatal(err)
	}
	got := outcome(t, off, p.Name)
	if got == "Running" {
		summary.offRan++
	} else {
		summary.offFailed++
	}
	return admitted, got
}

func none(string) {}

// TestNodeCredentialsAfterAStalePodSecret: the node's config.json has a valid credential;
// the pod carries a stale secret, which the kubelet tries first, in vain, and then falls
// back to the node's.
func TestNodeCredentialsAfterAStalePodSecret(t *testing.T) {
	_, off := twice(t, "node-fallback",
		func(ns string) { pullSecret(t, ns, "stale", nodeReg.Host, stalePassword) },
		func() *corev1.Pod { return nodePod("web", nodeReg.Host+"/acme/app:1.0", "stale") })
	if off != "Running" {
		t.Fatalf("where pullguard is off the kubelet should fall back to the node's credentials: %s", off)
	}
}

// TestPullPolicyNeverRunsAPreloadedImage: an image imported into containerd beforehand (not
// pulled by the kubelet, so no pull record ties it to credentials) runs with
// imagePullPolicy: Never and no credentials, though its registry is private.
func TestPullPolicyNeverRunsAPreloadedImage(t *testing.T) {
	pause, err := harness.PauseImage(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	// Content of its own: the kubelet keeps pull records by image ID, and the same content
	// pulled with credentials under another name would make it ask this pod for them.
	preloaded, err := mutate.Config(pause, withLabel(pause, "pullguard.test/preloaded", "true"))
	if err != nil {
		t.Fatal(err)
	}
	ref := basic.Host + "/acme/preloaded:1"
	if err := node.ImportImage(preloaded, ref); err != nil {
		t.Fatal(err)
	}
	p, off := twice(t, "never", none, func() *corev1.Pod {
		p := nodePod("web", ref)
		p.Spec.Containers[0].ImagePullPolicy = corev1.PullNever
		return p
	})
	if len(p.Spec.ImagePullSecrets) != 0 {
		t.Errorf("nothing to inject for an image never pulled, got %v", p.Spec.ImagePullSecrets)
	}
	if off != "Running" {
		t.Fatalf("where pullguard is off: %s", off)
	}
}

// TestCredentialProviderPlugin: the kubelet's exec credential provider plugin answers for
// the registry; pullguard, given the same CredentialProviderConfig, admits a pod with no
// secrets.
func TestCredentialProviderPlugin(t *testing.T) {
	p, off := twice(t, "provider", none, func() *corev1.Pod { return nodePod("web", providerReg.Host+"/acme/app:1.0") })
	if len(p.Spec.ImagePullSecrets) != 0 {
		t.Errorf("the provider covers it; got %v", p.Spec.ImagePullSecrets)
	}
	if off != "Running" {
		t.Fatalf("where pullguard is off the provider should serve it: %s", off)
	}
}

// TestNamespaceSecretBeforeAStaleNodeCredential: the node's config.json holds a stale
// credential for the registry and the namespace a valid secret: pullguard injects it (the
// kubelet tries the pod's secrets before the node's), and the pod runs; where pullguard is
// off the kubelet has only the node's stale credential and fails.
func TestNamespaceSecretBeforeAStaleNodeCredential(t *testing.T) {
	p, off := twice(t, "node-stale",
		func(ns string) { pullSecret(t, ns, "good", staleReg.Host, password) },
		func() *corev1.Pod { return nodePod("web", staleReg.Host+"/acme/app:1.0") })
	if len(p.Spec.ImagePullSecrets) != 1 || p.Spec.ImagePullSecrets[0].Name != "good" {
		t.Errorf("imagePullSecrets = %v, want [good]", p.Spec.ImagePullSecrets)
	}
	if !strings.HasPrefix(off, "PullFailed") {
		t.Fatalf("where pullguard is off the node's stale credential should fail the pull: %s", off)
	}
	t.Logf("where pullguard is off: %s", off)
}

// withLabel returns img's config with one more label.
func withLabel(img v1.Image, key, value string) v1.Config {
	cfg, err := img.ConfigFile()
	if err != nil {
		panic(err)
	}
	c := cfg.DeepCopy().Config
	if c.Labels == nil {
		c.Labels = map[string]string{}
	}
	c.Labels[key] = value
	return c
}
