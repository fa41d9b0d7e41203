package verify_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/pullguard/pullguard/pkg/admission/decision"
	"github.com/pullguard/pullguard/pkg/admission/verify"
	"github.com/pullguard/pullguard/pkg/registryauth"
	"github.com/pullguard/pullguard/pkg/registryauth/mirrors"
	"github.com/pullguard/pullguard/pkg/registryauth/probe"
	"github.com/pullguard/pullguard/test/harness"
)

// probeCounter counts the probes a prober sends.
type probeCounter struct{ sent atomic.Int64 }

func (c *probeCounter) ObserveProbe(registryauth.ProbeStatus, time.Duration) { c.sent.Add(1) }
func (c *probeCounter) ObserveCache(bool)                                    {}

// TestRoundsUnmirroredStayThree: a review asks about four more of an image's credentials a
// round (the decision's askAhead), so the number of rounds decides how many credentials of
// a pod whose registry refuses them all are checked. An unmirrored pod keeps the three
// rounds it always had; a mirrored one, which reaches one more endpoint a round, gets more.
func TestRoundsUnmirroredStayThree(t *testing.T) {
	dir := t.TempDir()
	tls, err := harness.NewTLS(dir)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := harness.StartRegistry(dir+"/registry", tls, harness.RegistryAuth{Users: map[string]string{"alice": "test-password-1"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(reg.Stop)

	// Twenty pull secrets for the registry, each with a password it refuses.
	const secrets = 20
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "team-a"}}
	parsed := make([]*registryauth.PullSecret, secrets)
	for i := range parsed {
		name := fmt.Sprintf("s%02d", i)
		auth := base64.StdEncoding.EncodeToString([]byte(fmt.Sprintf("alice:wrong-password-%d", i)))
		parsed[i] = registryauth.ParseSecret(name, registryauth.TypeDockerConfigJSON, map[string][]byte{
			registryauth.KeyDockerConfigJSON: []byte(`{"auths":{"` + reg.Host + `":{"auth":"` + auth + `"}}}`)})
		p.Spec.ImagePullSecrets = append(p.Spec.ImagePullSecrets, corev1.LocalObjectReference{Name: name})
	}
	p.Spec.Containers = []corev1.Container{{Name: "app", Image: reg.Host + "/team/app:1"}}

	decide := func(config *mirrors.Config) (*decision.Decision, int64) {
		var c probeCounter
		pr, err := probe.New(probe.Options{CAFiles: []string{tls.CAFile}, DenyNetworks: []netip.Prefix{}, MaxPerReview: 64, NamespaceBurst: 64, Observer: &c})
		if err != nil {
			t.Fatal(err)
		}
		f := &decision.Facts{Namespace: "team-a", Secrets: registryauth.NewSecretIndex(parsed), ServiceAccountApplied: true, Mirrors: config}
		d, ok := verify.Decide(context.Background(), p, f, pr, 20*time.Second)
		if !ok {
			t.Fatal("not decided")
		}
		return d, c.sent.Load()
	}

	// Unmirrored: four credentials a round, three rounds.
	d, sent := decide(nil)
	t.Logf("unmirrored: %d probes, %s: %.300s", sent, d.Images[0].Outcome, d.Images[0].Message)
	if sent != 12 {
		t.Errorf("unmirrored: %d probes sent, want 12 (three rounds of four)", sent)
	}
	if d.Mirrored() || d.Images[0].Outcome != decision.Indeterminate {
		t.Errorf("unmirrored: mirrored %v, %s, want an unmirrored indeterminate image", d.Mirrored(), d.Images[0].Outcome)
	}

	// Mirrored (tags) to a path on the same registry: more rounds, more probes.
	itms := mirrors.MirrorSet{APIVersion: "config.openshift.io/v1", Kind: mirrors.KindImageTagMirrorSet, Metadata: mirrors.MirrorSetMeta{Name: "m"},
		Spec: mirrors.MirrorSetSpec{ImageTagMirrors: []mirrors.ImageMirrors{{Source: reg.Host + "/team", Mirrors: []string{reg.Host + "/mirror/team"}}}}}
	d, sent = decide(mirrors.New(mirrors.CRIO, mirrors.FromMirrorSets([]mirrors.MirrorSet{itms})))
	t.Logf("mirrored: %d probes, %s", sent, d.Images[0].Outcome)
	if !d.Mirrored() || sent <= 12 {
		t.Errorf("mirrored (%v): %d probes sent, want more than three rounds' 12", d.Mirrored(), sent)
	}
}
