package node

import (
	"strings"
	"testing"
)

// TestTheProblemIsReal: with pullguard off, a pod with no pull secret for the private
// registry ends in ErrImagePull/ImagePullBackOff.
func TestTheProblemIsReal(t *testing.T) {
	off := namespace(t, "baseline-off", map[string]string{"pullguard.io/mode": "off"})
	pullSecret(t, off, "good", basic.Host, password) // there, but not on the pod
	if _, err := create(t, off, nodePod("web", basic.Host+"/acme/app:1.0")); err != nil {
		t.Fatal(err)
	}
	got := assertPullFails(t, off, "web")
	t.Logf("without pullguard: %s", got)
}

// TestInjectedPodRuns: where pullguard enforces and the namespace has the secret, the same
// pod gets it injected and runs.
func TestInjectedPodRuns(t *testing.T) {
	ns := namespace(t, "enforce", nil)
	pullSecret(t, ns, "good", basic.Host, password)
	p, err := create(t, ns, nodePod("web", basic.Host+"/acme/app:1.0"))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Spec.ImagePullSecrets) != 1 || p.Spec.ImagePullSecrets[0].Name != "good" {
		t.Fatalf("imagePullSecrets = %v", p.Spec.ImagePullSecrets)
	}
	summary.admitted++
	assertRuns(t, ns, "web")
}

// TestPublicImageRuns: an image from an anonymous registry is admitted untouched and runs.
func TestPublicImageRuns(t *testing.T) {
	ns := namespace(t, "public", nil)
	pullSecret(t, ns, "good", basic.Host, password)
	p, err := create(t, ns, nodePod("web", anonymous.Host+"/acme/app:1.0"))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Spec.ImagePullSecrets) != 0 {
		t.Fatalf("a public image got %v", p.Spec.ImagePullSecrets)
	}
	summary.admitted++
	assertRuns(t, ns, "web")
}

// TestEveryDenialWouldHaveFailed: each pod pullguard denies is created again where pullguard
// is off, with the same secrets, and the kubelet fails to pull it.
func TestEveryDenialWouldHaveFailed(t *testing.T) {
	enforce := namespace(t, "deny", nil)
	off := namespace(t, "deny-off", map[string]string{"pullguard.io/mode": "off"})
	for _, ns := range []string{enforce, off} {
		pullSecret(t, ns, "stale", basic.Host, stalePassword)
		pullSecret(t, ns, "good", basic.Host, password)
	}
	cases := []struct {
		name, image, want string
		secrets           []string
		nsHasGood         bool
	}{
		{"no-credential", basic.Host + "/acme/app:1.0", "no pull secret in namespace", nil, false},
		{"stale-credential", basic.Host + "/acme/app:1.0", `registry refused the credentials in secret "stale"`, []string{"stale"}, true},
		{"missing-tag", basic.Host + "/acme/app:1.0-typo", `tag "1.0-typo" does not exist`, []string{"good"}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ns := enforce
			if !tc.nsHasGood {
				ns = namespace(t, "deny-"+tc.name, nil)
			}
			_, err := create(t, ns, nodePod(tc.name, tc.image, tc.secrets...))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("pullguard: %v, want a denial saying %q", err, tc.want)
			}
			summary.denied++
			offNS := off
			if !tc.nsHasGood {
				offNS = namespace(t, "deny-off-"+tc.name, map[string]string{"pullguard.io/mode": "off"})
			}
			if _, err := create(t, offNS, nodePod(tc.name, tc.image, tc.secrets...)); err != nil {
				t.Fatal(err)
			}
			got := assertPullFails(t, offNS, tc.name)
			t.Logf("where pullguard is off: %s", got)
			summary.wouldFail++
		})
	}
}
