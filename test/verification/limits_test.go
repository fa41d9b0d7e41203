package verification

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/pullguard/pullguard/internal/procmem"
	"github.com/pullguard/pullguard/pkg/admission/verify"
	"github.com/pullguard/pullguard/pkg/registryauth/probe"
	"github.com/pullguard/pullguard/test/harness"
)

// deniedNetwork is the suite's --verify-deny-networks: one loopback address, so the test
// registries (127.0.0.1, and the 127.10.x.y listeners below) stay reachable.
const (
	deniedAddress = "127.0.0.200"
	deniedNetwork = deniedAddress + "/32"
)

// maxProbes is the suite's --verify-max-probes: below the namespace's burst of probes
// (probe.DefaultNamespaceBurst), so that the count a test sees is this flag's doing.
const maxProbes = 16

// webhookTimeout is timeoutSeconds of deploy/base/webhooks.yaml: past it the API server
// answers instead of pullguard.
const webhookTimeout = 5 * time.Second

// TestEightThousandRegistries is issue 11's first row: one pod (dry run) with 8,000
// containers, each on a different registry address that accepts TCP and never answers.
// pullguard probes at most --verify-max-probes of them, its goroutines and heap stay
// bounded, and it answers (its own message) before the API server's webhook timeout.
func TestEightThousandRegistries(t *testing.T) {
	const images = 8000
	s, err := harness.ListenSilent(harness.LoopbackAddresses(10, images))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ns := namespace(t, "eight-thousand", map[string]string{"pullguard.io/failure-policy": "closed"})
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "many", Namespace: ns}}
	for i, host := range s.Hosts {
		pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: "c" + strconv.Itoa(i), Image: host + "/acme/app:1"})
	}
	probesBefore, reviewBefore := probesSent(t), reviewSeconds(t)
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	goroutinesBefore := runtime.NumGoroutine()
	clearPeakRSS(t)
	peak := sampleProcess()

	start := time.Now()
	_, err = cluster.Client.CoreV1().Pods(ns).Create(context.Background(), pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	took := time.Since(start)
	inPullguard := time.Duration((reviewSeconds(t) - reviewBefore) * float64(time.Second))
	heapPeak, goroutinesPeak := peak()
	rss := peakRSS(t)
	conns := 0
	for _, n := range s.Connections() {
		conns += n
	}
	// The probes end on their own timeout, after the review: wait for the count to settle.
	var probes float64
	for deadline := time.Now().Add(3 * webhookTimeout); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if probes = probesSent(t) - probesBefore; probes >= maxProbes {
			break
		}
	}
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	t.Logf("%d images on %d silent registries: answered in %s (%s in pullguard); %d connections, %.0f probes; goroutines %d -> peak %d; heap in use %.1f MiB -> peak %.1f MiB; process peak RSS %.1f MiB; message %d bytes",
		images, images, took.Round(10*time.Millisecond), inPullguard.Round(10*time.Millisecond), conns, probes, goroutinesBefore, goroutinesPeak, mib(before.HeapInuse), mib(heapPeak), mib(rss), len(msg))

	// pullguard answered, not the API server's timeout: its fail-closed denial names both
	// kinds of undecided image.
	if err == nil || !strings.Contains(msg, verify.ReasonTooMany) || !strings.Contains(msg, probe.ReasonUnreachable) {
		t.Fatalf("want pullguard's denial naming %q and %q; got %.500s", verify.ReasonTooMany, probe.ReasonUnreachable, msg)
	}
	if conns != maxProbes || probes != maxProbes {
		t.Errorf("%d connections and %.0f probes, want %d: --verify-max-probes bounds them", conns, probes, maxProbes)
	}
	// Per probe: its goroutine, the shared probe's, the ping's two racers and the
	// connection's reader and writer; the review's own work besides. The issue measured
	// 28,673.
	if grown := goroutinesPeak - goroutinesBefore; grown > 20*maxProbes {
		t.Errorf("goroutines grew by %d during the review, want at most %d", grown, 20*maxProbes)
	}
	// The issue measured a 271 MiB heap peak; the pod's memory limit is 256 MiB.
	if grown := int64(heapPeak) - int64(before.HeapInuse); grown > 128<<20 {
		t.Errorf("heap grew %.1f MiB during the review, want under 128 MiB", float64(grown)/(1<<20))
	}
	if rss > 256<<20 {
		t.Errorf("peak RSS %.1f MiB, over the pod's 256 MiB", mib(rss))
	}
}

// TestDeniedNetworkNeverContacted: a registry whose address is in --verify-deny-networks is
// never contacted, and its images are decided by matching alone: a matching secret is
// injected, an image no secret matches is admitted as anonymous, even fail-closed (a probe
// there would hang until the budget ended and deny).
func TestDeniedNetworkNeverContacted(t *testing.T) {
	s, err := harness.ListenSilent([]string{deniedAddress})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	host := s.Hosts[0]
	ns := namespace(t, "denied-network", map[string]string{"pullguard.io/failure-policy": "closed"})
	pullSecret(t, ns, "creds", host+"/acme", password)
	_, stderr := apply(t, ns, "matched", host+"/acme/app:1", false)
	assertSecrets(t, ns, "matched", "creds")
	_, stderr2 := apply(t, ns, "anonymous", host+"/public/app:1", false)
	assertSecrets(t, ns, "anonymous")
	if stderr+stderr2 != "" {
		t.Errorf("warnings: %q", stderr+stderr2)
	}
	if n := s.Connections()[0]; n != 0 {
		t.Fatalf("%d connections to a registry in --verify-deny-networks", n)
	}
}

// misbehaving starts a registry answering 403 to anonymous requests for forbidden/* and a
// 404 with a 60 KiB error code for huge/*.
func misbehaving(t *testing.T) *harness.Misbehaving {
	t.Helper()
	huge := strings.Repeat("A", 60<<10)
	m, err := harness.StartMisbehaving(tlsFiles, func(w http.ResponseWriter, r *http.Request) {
		switch {
		case harness.AnswerPing(w, r):
		case strings.HasPrefix(r.URL.Path, "/v2/forbidden/") && r.Header.Get("Authorization") == "":
			w.WriteHeader(http.StatusForbidden)
		case strings.HasPrefix(r.URL.Path, "/v2/huge/") && r.Method == http.MethodHead:
			// No body on a HEAD: make the client GET, to read the error.
			w.WriteHeader(http.StatusMethodNotAllowed)
		case strings.HasPrefix(r.URL.Path, "/v2/huge/"):
			harness.RegistryError(w, http.StatusNotFound, huge, huge)
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return m
}

// TestAnonymousForbiddenIsMissing: a registry that answers 403 to an anonymous request
// needs a credential the namespace lacks: denied as missing.
func TestAnonymousForbiddenIsMissing(t *testing.T) {
	m := misbehaving(t)
	ns := namespace(t, "anonymous-403", nil)
	_, stderr := apply(t, ns, "web", m.Host+"/forbidden/app:1", true)
	assertContains(t, stderr, `no pull secret in namespace "anonymous-403" has credentials for `+m.Host, m.Host+` answered HTTP 403 to an anonymous request`)
}

// TestHugeErrorCodeNotCopied is issue 11's third row: a registry error code of 60 KiB never
// reaches a message.
func TestHugeErrorCodeNotCopied(t *testing.T) {
	m := misbehaving(t)
	ns := namespace(t, "huge-code", nil)
	_, stderr := apply(t, ns, "web", m.Host+"/huge/app:1", true)
	t.Logf("message of %d bytes: %s", len(stderr), stderr)
	assertContains(t, stderr, `tag "1" does not exist in `+m.Host+`/huge/app (HTTP 404)`)
	if strings.Contains(stderr, "AAAA") || len(stderr) > 1024 {
		t.Fatalf("the registry's error text reached the message (%d bytes)", len(stderr))
	}
}

// probesSent is the total of pullguard_registry_probes_total over its results.
func probesSent(t *testing.T) float64 { return metricSum(t, "pullguard_registry_probes_total") }

// reviewSeconds is the total time pullguard spent on admission reviews.
func reviewSeconds(t *testing.T) float64 {
	return metricSum(t, "pullguard_admission_duration_seconds_sum")
}

// metricSum is the sum of a metric's series in the webhook's /metrics.
func metricSum(t *testing.T, name string) float64 {
	t.Helper()
	resp, err := http.Get(webhook.MetricsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	text, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	series := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `(?:\{[^}]*\})? (\S+)$`)
	var total float64
	for _, m := range series.FindAllStringSubmatch(string(text), -1) {
		v, err := strconv.ParseFloat(m[1], 64)
		if err != nil {
			t.Fatal(err)
		}
		total += v
	}
	return total
}

// probeDetails returns the details pullguard logged of probes of host that got no answer
// (the cause users never see).
func probeDetails(host string) string {
	var out []string
	for _, line := range strings.Split(webhook.Logs(), "\n") {
		if strings.Contains(line, `"msg":"registry probe got no answer"`) && strings.Contains(line, `"registry":"`+host+`"`) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

func mib(n uint64) float64 { return float64(n) / (1 << 20) }

// sampleProcess samples the heap in use and the goroutines every few milliseconds until
// the returned function is called, which returns the highest of each.
func sampleProcess() func() (heap uint64, goroutines int) {
	var heapPeak atomic.Uint64
	var goroutinesPeak atomic.Int64
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			heapPeak.Store(max(heapPeak.Load(), ms.HeapInuse))
			goroutinesPeak.Store(max(goroutinesPeak.Load(), int64(runtime.NumGoroutine())))
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	return func() (uint64, int) {
		close(stop)
		<-done
		return heapPeak.Load(), int(goroutinesPeak.Load())
	}
}

// clearPeakRSS resets the process's peak resident set (VmHWM), so peakRSS measures from here.
func clearPeakRSS(t *testing.T) {
	t.Helper()
	if err := procmem.ResetPeakRSS(); err != nil {
		t.Fatal(err)
	}
}

// peakRSS reads the process's peak resident set (VmHWM).
func peakRSS(t *testing.T) uint64 {
	t.Helper()
	peak, err := procmem.PeakRSS()
	if err != nil {
		t.Fatal(err)
	}
	return peak
}
