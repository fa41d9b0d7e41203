package verification

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pullguard/pullguard/pkg/registryauth/probe"
)

func TestGoodCredentialsInjected(t *testing.T) {
	ns := namespace(t, "good", nil)
	pullSecret(t, ns, "basic-creds", basic.Host, password)
	pullSecret(t, ns, "token-creds", token.Host, password)
	_, stderr := apply(t, ns, "basic", basic.Host+"/acme/app:1.0", false)
	if stderr != "" {
		t.Errorf("apply printed %q", stderr)
	}
	assertSecrets(t, ns, "basic", "basic-creds")
	apply(t, ns, "token", token.Host+"/acme/app:1.0", false)
	assertSecrets(t, ns, "token", "token-creds")
}

func TestFirstAcceptedCandidateInjected(t *testing.T) {
	ns := namespace(t, "first-accepted", nil)
	// The kubelet would try the more specific key first; the registry refuses it.
	pullSecret(t, ns, "acme-expired", basic.Host+"/acme", stalePassword)
	pullSecret(t, ns, "registry-wide", basic.Host, password)
	apply(t, ns, "web", basic.Host+"/acme/app:1.0", false)
	assertSecrets(t, ns, "web", "registry-wide")
}

func TestMissingTagDenied(t *testing.T) {
	ns := namespace(t, "typo", nil)
	pullSecret(t, ns, "basic-creds", basic.Host, password)
	_, stderr := apply(t, ns, "web", basic.Host+"/acme/app:1.0-typo", true)
	assertContains(t, stderr, `tag "1.0-typo" does not exist in `+basic.Host+`/acme/app (HTTP 404); check the image reference`)
}

func TestStaleCredentialsDeniedByNameEvenFailOpen(t *testing.T) {
	ns := namespace(t, "stale", map[string]string{"pullguard.io/failure-policy": "open"})
	pullSecret(t, ns, "expired", basic.Host, stalePassword)
	_, stderr := apply(t, ns, "web", basic.Host+"/acme/app:1.0", true)
	assertContains(t, stderr, `registry refused the credentials in secret "expired" for `+basic.Host+`: HTTP 401`, "the token may have expired")

	pullSecret(t, ns, "expired-token", token.Host, stalePassword)
	_, stderr = apply(t, ns, "token", token.Host+"/acme/app:1.0", true)
	assertContains(t, stderr, `registry refused the credentials in secret "expired-token" for `+token.Host+`: HTTP 401`)
}

func TestAnonymousRegistryUntouched(t *testing.T) {
	ns := namespace(t, "anon", nil)
	pullSecret(t, ns, "basic-creds", basic.Host, password)
	_, stderr := apply(t, ns, "web", anonymous.Host+"/acme/app:1.0", false)
	if stderr != "" {
		t.Errorf("apply printed %q", stderr)
	}
	assertSecrets(t, ns, "web")
}

func TestNoCredentialForThePrivateRegistryDenied(t *testing.T) {
	ns := namespace(t, "none", nil)
	_, stderr := apply(t, ns, "web", basic.Host+"/acme/app:1.0", true)
	assertContains(t, stderr, `no pull secret in namespace "none" has credentials for `+basic.Host+` (`+basic.Host+` answered HTTP 401 to an anonymous request)`)
}

// TestHangingRegistry: a registry that accepts and never answers is decided by the failure
// policy, by pullguard itself (its message, not the API server's webhook timeout).
func TestHangingRegistry(t *testing.T) {
	for _, tc := range []struct {
		policy string
		denied bool
		want   string
	}{
		{"closed", true, `could not verify with ` + hanging},
		{"open", false, `Warning: container "app" image "` + hanging + `/acme/app:1": could not verify with ` + hanging},
	} {
		t.Run(tc.policy, func(t *testing.T) {
			ns := namespace(t, "hanging-"+tc.policy, map[string]string{"pullguard.io/failure-policy": tc.policy})
			pullSecret(t, ns, "creds", hanging, password)
			start := time.Now()
			_, stderr := apply(t, ns, "web", hanging+"/acme/app:1", tc.denied)
			took := time.Since(start)
			t.Logf("decided in %s", took.Round(10*time.Millisecond))
			assertContains(t, stderr, tc.want, probe.ReasonUnreachable)
			if tc.denied {
				assertContains(t, stderr, `namespace "hanging-closed" is pullguard.io/failure-policy=closed`)
			} else {
				assertSecrets(t, ns, "web", "creds")
			}
			// The bound: decided well before the API server would give up.
			if took > 8*time.Second {
				t.Errorf("decided after %s, beyond 8s", took)
			}
		})
	}
}

func TestCachedSuccessAdmitsWhileTheRegistryIsDown(t *testing.T) {
	ns := namespace(t, "cached", nil)
	pullSecret(t, ns, "creds", stopping.Host, password)
	apply(t, ns, "before", stopping.Host+"/acme/app:1.0", false)
	assertSecrets(t, ns, "before", "creds")
	stopping.Stop()
	defer stopping.Start()
	_, stderr := apply(t, ns, "after", stopping.Host+"/acme/app:1.0", false)
	if stderr != "" {
		t.Errorf("a cached success must admit silently, got %q", stderr)
	}
	assertSecrets(t, ns, "after", "creds")
	// An image never probed before cannot be vouched for: fail-open admits with a warning.
	_, stderr = apply(t, ns, "uncached", stopping.Host+"/acme/other:1", false)
	assertContains(t, stderr, "could not verify with "+stopping.Host, probe.ReasonUnreachable)
	assertContains(t, probeDetails(stopping.Host), "connection refused")
}

func TestProbeMetrics(t *testing.T) {
	resp, err := http.Get(webhook.MetricsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	text := string(body)
	for _, want := range []string{"pullguard_registry_probes_total{result=\"ok\"}", "pullguard_registry_probe_duration_seconds_count", "pullguard_registry_probe_cache_total{result=\"hit\"}"} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(text, password) || strings.Contains(text, basic.Host) {
		t.Error("metrics carry a credential or a registry name")
	}
}

// TestShutdownFinishesInFlightReviews stops the webhook while a review waits on a registry
// that never answers: the review still gets pullguard's answer, not a broken connection.
func TestShutdownFinishesInFlightReviews(t *testing.T) {
	ns := namespace(t, "shutdown", map[string]string{"pullguard.io/failure-policy": "closed"})
	pullSecret(t, ns, "creds", hanging, password)
	type result struct{ stderr string }
	done := make(chan result, 1)
	go func() {
		_, stderr := apply(t, ns, "web", hanging+"/acme/app:1", true)
		done <- result{stderr}
	}()
	// Give the review time to reach the webhook and start probing.
	time.Sleep(time.Second)
	if err := webhook.Stop(); err != nil {
		t.Errorf("stopping: %v", err)
	}
	defer func() {
		if err := webhook.Start(context.Background()); err != nil {
			t.Fatalf("restarting the webhook: %v", err)
		}
	}()
	r := <-done
	assertContains(t, r.stderr, `could not verify with `+hanging, probe.ReasonUnreachable, `namespace "shutdown" is pullguard.io/failure-policy=closed`)
	// The probe ran its full budget ("no answer within", in the log): shutdown did not cut
	// it short ("the review ended before the registry answered").
	details := probeDetails(hanging)
	assertContains(t, details, "no answer within")
	if strings.Contains(details, "the review ended") {
		t.Errorf("shutdown cut the review short: %s", details)
	}
}
