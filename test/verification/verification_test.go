package verification

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
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
// policy, by pullguard itself within its --verify-timeout: pullguard's own message is the
// proof, since past the webhook's timeoutSeconds (5s, deploy/base/webhooks.yaml) the API
// server answers instead, with its own timeout error where the policy is closed and, where
// it is open, by admitting the pod without pullguard's warning or secret.
func TestHangingRegistry(t *testing.T) {
	for _, tc := range []struct {
		policy string
		denied bool
		want   string
	}{
		{"closed", true, `could not verify with ` + hanging},
		{"open", false, `Warning: pullguard: could not verify images of ` + hanging + ` (container "app"; `},
	} {
		t.Run(tc.policy, func(t *testing.T) {
			ns := namespace(t, "hanging-"+tc.policy, map[string]string{"pullguard.io/failure-policy": tc.policy})
			pullSecret(t, ns, "creds", hanging, password)
			start := time.Now()
			_, stderr := apply(t, ns, "web", hanging+"/acme/app:1", tc.denied)
			t.Logf("kubectl apply took %s", time.Since(start).Round(10*time.Millisecond))
			assertContains(t, stderr, tc.want, probe.ReasonUnreachable)
			if tc.denied {
				assertContains(t, stderr, `namespace "hanging-closed" is pullguard.io/failure-policy=closed`)
			} else {
				assertSecrets(t, ns, "web", "creds")
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
	assertContains(t, stderr, "Warning: pullguard: could not verify images of "+stopping.Host, probe.ReasonUnreachable)
	assertContains(t, probeDetails(stopping.Host), "connection refused")
}

// TestProbeMetrics: reviews that probe move the probe series, which exist at zero from
// start-up (so their presence alone proves nothing): a first review of a tag no other test
// asks about sends a probe, a second is answered from the cache. The exposition names no
// registry and carries no credential.
func TestProbeMetrics(t *testing.T) {
	if _, err := basic.Push(context.Background(), "acme/metrics:1", user, password); err != nil {
		t.Fatal(err)
	}
	ns := namespace(t, "metrics", nil)
	pullSecret(t, ns, "creds", basic.Host, password)
	before := scrape(t)
	apply(t, ns, "first", basic.Host+"/acme/metrics:1", false)
	apply(t, ns, "second", basic.Host+"/acme/metrics:1", false)
	after := scrape(t)
	for _, series := range []string{
		`pullguard_registry_probes_total{result="ok"}`,
		`pullguard_registry_probe_duration_seconds_count`,
		`pullguard_registry_probe_cache_total{result="miss"}`,
		`pullguard_registry_probe_cache_total{result="hit"}`,
	} {
		b, okBefore := before.values[series]
		a, okAfter := after.values[series]
		if !okBefore || !okAfter {
			t.Errorf("metrics lack %s", series)
		} else if a <= b {
			t.Errorf("%s stayed at %v over two reviews that probe", series, a)
		}
	}
	if strings.Contains(after.text, password) || strings.Contains(after.text, basic.Host) {
		t.Error("metrics carry a credential or a registry name")
	}
}

// metrics is one scrape of the webhook's /metrics: the text, and each series' value.
type metrics struct {
	text   string
	values map[string]float64
}

func scrape(t *testing.T) metrics {
	t.Helper()
	resp, err := http.Get(webhook.MetricsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	m := metrics{text: string(body), values: map[string]float64{}}
	for _, line := range strings.Split(m.text, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if v, err := strconv.ParseFloat(line[i+1:], 64); i > 0 && err == nil {
			m.values[line[:i]] = v
		}
	}
	return m
}

// TestShutdownFinishesInFlightReviews stops the webhook while a review waits on a registry
// that never answers: the review still gets pullguard's answer, not a broken connection.
func TestShutdownFinishesInFlightReviews(t *testing.T) {
	ns := namespace(t, "shutdown", map[string]string{"pullguard.io/failure-policy": "closed"})
	stuck, probing := stuckRegistry(t)
	pullSecret(t, ns, "creds", stuck, password)
	type result struct {
		stderr string
		err    error
	}
	done := make(chan result, 1)
	go func() {
		manifest := fmt.Sprintf("apiVersion: v1\nkind: Pod\nmetadata: {name: web, namespace: %s}\nspec:\n  containers:\n  - {name: app, image: %q}\n", ns, stuck+"/acme/app:1")
		stdout, stderr, err := cluster.Kubectl(context.Background(), manifest, "apply", "-f", "-")
		done <- result{stdout + stderr, err}
	}()
	// Stop once the review has reached the webhook and its probe has connected.
	select {
	case <-probing:
	case r := <-done:
		t.Fatalf("the review ended before its probe connected (err %v):\n%s", r.err, r.stderr)
	}
	if err := webhook.Stop(); err != nil {
		t.Errorf("stopping: %v", err)
	}
	defer func() {
		if err := webhook.Start(context.Background()); err != nil {
			t.Fatalf("restarting the webhook: %v", err)
		}
	}()
	r := <-done
	if r.err == nil {
		t.Fatalf("the pod was admitted; want pullguard's denial:\n%s", r.stderr)
	}
	if strings.Contains(r.stderr, password) {
		t.Fatal("kubectl output shows a test password")
	}
	assertContains(t, r.stderr, `could not verify with `+stuck, probe.ReasonUnreachable, `namespace "shutdown" is pullguard.io/failure-policy=closed`)
	// The probe ran its full budget ("no answer within", in the log): shutdown did not cut
	// it short ("the review ended before the registry answered").
	details := probeDetails(stuck)
	assertContains(t, details, "no answer within")
	if strings.Contains(details, "the review ended") {
		t.Errorf("shutdown cut the review short: %s", details)
	}
}

// stuckRegistry is a registry that accepts connections on 127.0.0.1 and never answers, like
// the suite's hanging listener, and says when the first connection arrives: the moment a
// probe has started.
func stuckRegistry(t *testing.T) (host string, connected <-chan struct{}) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	first := make(chan struct{})
	closed := make(chan struct{})
	var conns []net.Conn
	go func() {
		defer close(closed)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			if conns = append(conns, c); len(conns) == 1 {
				close(first)
			}
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-closed
		for _, c := range conns {
			c.Close()
		}
	})
	return l.Addr().String(), first
}
