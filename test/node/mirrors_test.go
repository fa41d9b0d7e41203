package node

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	corev1 "k8s.io/api/core/v1"
)

// Issue 16: containerd sends the kubelet's credential to every host of the image's
// hosts.toml, mirrors first. mirrorSource's hosts.toml names mirror; both hold these images.
const (
	mirroredRepo        = "acme/mirrored:1.0"
	mirroredRefusedRepo = "acme/mirrored-refused:1.0"
)

// TestContainerdMirrorServesWhatTheSourceRefuses: the pod's secret, keyed to the image's
// registry, holds a credential only the mirror accepts. containerd asks the mirror first and
// pulls there: pullguard, routing the pull through hosts.toml, admits the pod, and it runs,
// as it does where pullguard is off. (Probing the source alone would have denied it.)
func TestContainerdMirrorServesWhatTheSourceRefuses(t *testing.T) {
	image := mirrorSource.Host + "/" + mirroredRepo
	// The premise, asked of the registries themselves: the source refuses the credential,
	// the mirror takes it.
	if code := manifestStatus(t, image, mirrorPassword); code != 401 {
		t.Fatalf("the source answers %d to the mirror's credential, want 401", code)
	}
	if code := manifestStatus(t, mirror.Host+"/"+mirroredRepo, mirrorPassword); code != 200 {
		t.Fatalf("the mirror answers %d to its credential, want 200", code)
	}
	p, off := twice(t, "mirror",
		func(ns string) { pullSecret(t, ns, "mirror-cred", mirrorSource.Host, mirrorPassword) },
		func() *corev1.Pod { return nodePod("web", image, "mirror-cred") })
	summary.mirrored++
	if len(p.Spec.ImagePullSecrets) != 1 || p.Spec.ImagePullSecrets[0].Name != "mirror-cred" {
		t.Errorf("imagePullSecrets = %v, want [mirror-cred]", p.Spec.ImagePullSecrets)
	}
	if off != "Running" {
		t.Fatalf("where pullguard is off containerd should pull through the mirror: %s", off)
	}
}

// TestContainerdMirrorSecretInjected: the namespace holds the secret only the mirror accepts
// and the pod names none. pullguard injects it (the kubelet's credential reaches the mirror)
// and the pod runs; where pullguard is off the kubelet has no credential and the pull fails.
func TestContainerdMirrorSecretInjected(t *testing.T) {
	image := mirrorSource.Host + "/" + mirroredRepo
	p, off := twice(t, "mirror-inject",
		func(ns string) { pullSecret(t, ns, "mirror-cred", mirrorSource.Host, mirrorPassword) },
		func() *corev1.Pod { return nodePod("web", image) })
	summary.mirrored++
	if len(p.Spec.ImagePullSecrets) != 1 || p.Spec.ImagePullSecrets[0].Name != "mirror-cred" {
		t.Errorf("imagePullSecrets = %v, want [mirror-cred] injected", p.Spec.ImagePullSecrets)
	}
	if !strings.HasPrefix(off, "PullFailed") {
		t.Fatalf("where pullguard is off the pod has no credential and should fail to pull: %s", off)
	}
	t.Logf("where pullguard is off: %s", off)
}

// TestContainerdMirrorAndSourceRefuse: the pod's credential is refused by the mirror and by
// the source. pullguard denies it, naming the mirror; where pullguard is off the pull fails
// with 401.
func TestContainerdMirrorAndSourceRefuse(t *testing.T) {
	image := mirrorSource.Host + "/" + mirroredRefusedRepo
	for _, host := range []string{mirrorSource.Host, mirror.Host} {
		if code := manifestStatus(t, host+"/"+mirroredRefusedRepo, stalePassword); code != 401 {
			t.Fatalf("%s answers %d to the stale credential, want 401", host, code)
		}
	}
	enforce := namespace(t, "mirror-refused", nil)
	off := namespace(t, "mirror-refused-off", map[string]string{"pullguard.io/mode": "off"})
	for _, ns := range []string{enforce, off} {
		pullSecret(t, ns, "stale", mirrorSource.Host, stalePassword)
	}
	_, err := create(t, enforce, nodePod("web", image, "stale"))
	if err == nil {
		t.Fatal("pullguard admitted a pod whose mirror and source both refuse its credential")
	}
	for _, want := range []string{"mirror " + mirror.Host, `refused the credentials in secret "stale"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("denial %q does not say %q", err, want)
		}
	}
	t.Logf("pullguard: %v", err)
	summary.denied++
	summary.mirrored++
	if _, err := create(t, off, nodePod("web", image, "stale")); err != nil {
		t.Fatal(err)
	}
	got := assertPullFails(t, off, "web")
	if !strings.Contains(got, "401") {
		t.Fatalf("where pullguard is off: %s, want a 401", got)
	}
	t.Logf("where pullguard is off: %s", got)
	summary.wouldFail++
}

// manifestStatus is the HTTP status a registry answers to a manifest request for image with
// the test user and pass.
func manifestStatus(t *testing.T, image, pass string) int {
	t.Helper()
	ref, err := name.ParseReference(image)
	if err != nil {
		t.Fatal(err)
	}
	_, err = remote.Head(ref, remote.WithContext(context.Background()),
		remote.WithAuth(&authn.Basic{Username: user, Password: pass}), remote.WithTransport(registryTLS.Transport()))
	if err == nil {
		return 200
	}
	var te *transport.Error
	if errors.As(err, &te) {
		return te.StatusCode
	}
	t.Fatalf("asking %s: %v", image, err)
	return 0
}
