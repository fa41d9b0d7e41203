package probe_test

import (
	"context"
	"io"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pullguard/pullguard/internal/procmem"
	"github.com/pullguard/pullguard/pkg/registryauth"
	"github.com/pullguard/pullguard/pkg/registryauth/probe"
	"github.com/pullguard/pullguard/test/harness"
)

// misbehaving answers per repository, /v2/<repository>/manifests/<reference>: the answers
// no well-behaved test registry gives. A HEAD carries no body, so cases that need the
// registry's error JSON answer HEAD with 405 and the error to the GET that follows.
func misbehaving(t *testing.T) *harness.Misbehaving {
	t.Helper()
	long := func(n int) string { return strings.Repeat("A", n) }
	var m *harness.Misbehaving
	headNotAllowed := func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodHead {
			w.WriteHeader(http.StatusMethodNotAllowed)
			return true
		}
		return false
	}
	m, err := harness.StartMisbehaving(tlsFiles, func(w http.ResponseWriter, r *http.Request) {
		if harness.AnswerPing(w, r) {
			return
		}
		repo, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/v2/"), "/manifests/")
		switch repo {
		case "forbidden/plain":
			w.WriteHeader(http.StatusForbidden)
		case "forbidden/denied":
			if !headNotAllowed(w, r) {
				harness.RegistryError(w, http.StatusForbidden, "DENIED", "requested access to the resource is denied")
			}
		case "denied/401":
			if !headNotAllowed(w, r) {
				harness.RegistryError(w, http.StatusUnauthorized, "DENIED", "requested access to the resource is denied")
			}
		case "server/error":
			w.WriteHeader(http.StatusInternalServerError)
		case "server/unavailable":
			if !headNotAllowed(w, r) {
				harness.RegistryError(w, http.StatusServiceUnavailable, "UNAVAILABLE", "try later")
			}
		case "rate/limited":
			if !headNotAllowed(w, r) {
				harness.RegistryError(w, http.StatusTooManyRequests, "TOOMANYREQUESTS", "pull rate limit")
			}
		case "gone/manifest":
			if !headNotAllowed(w, r) {
				harness.RegistryError(w, http.StatusNotFound, "MANIFEST_UNKNOWN", "manifest unknown")
			}
		case "code/unknown":
			if !headNotAllowed(w, r) {
				harness.RegistryError(w, http.StatusNotFound, "NOT_A_SPEC_CODE\x1b[31m\r\n", "x")
			}
		case "code/10k":
			if !headNotAllowed(w, r) {
				harness.RegistryError(w, http.StatusNotFound, long(10<<10), "x")
			}
		case "code/60k":
			if !headNotAllowed(w, r) {
				harness.RegistryError(w, http.StatusNotFound, long(60<<10), long(60<<10))
			}
		case "code/60k-teapot":
			if !headNotAllowed(w, r) {
				harness.RegistryError(w, http.StatusTeapot, long(60<<10), "x")
			}
		case "get/only":
			if !headNotAllowed(w, r) {
				w.WriteHeader(http.StatusOK)
			}
		default:
			if strings.HasPrefix(repo, "stream/") && !headNotAllowed(w, r) {
				m.Stream(w, r, 100<<20)
				return
			}
			w.WriteHeader(http.StatusNotFound)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return m
}

// TestMisbehavingRegistryVerdicts exercises the classifications the real registries never
// produce: 403 with and without DENIED (anonymous too: the decision makes that "missing"),
// 5xx, 429, and error codes that are unknown, hostile or huge.
func TestMisbehavingRegistryVerdicts(t *testing.T) {
	m := misbehaving(t)
	p, _ := newProber(t, probe.Options{})
	tests := []struct {
		name   string
		repo   string
		cred   *registryauth.Credential
		want   registryauth.ProbeStatus
		http   int
		code   string
		reason string
	}{
		{"403 with credentials", "forbidden/plain", cred(password), registryauth.ProbeForbidden, 403, "", ""},
		{"403 anonymous", "forbidden/plain", nil, registryauth.ProbeForbidden, 403, "", ""},
		{"403 DENIED", "forbidden/denied", cred(password), registryauth.ProbeForbidden, 403, "DENIED", ""},
		{"DENIED rules over the status: the credential was accepted, access refused", "denied/401", cred(password), registryauth.ProbeForbidden, 401, "DENIED", ""},
		{"500", "server/error", cred(password), registryauth.ProbeUnavailable, 500, "", "the registry answered HTTP 500"},
		{"503 UNAVAILABLE", "server/unavailable", nil, registryauth.ProbeUnavailable, 503, "UNAVAILABLE", "the registry answered HTTP 503 UNAVAILABLE"},
		{"429 TOOMANYREQUESTS", "rate/limited", cred(password), registryauth.ProbeUnavailable, 429, "TOOMANYREQUESTS", "the registry answered HTTP 429 TOOMANYREQUESTS"},
		{"404 MANIFEST_UNKNOWN after 405 to HEAD", "gone/manifest", nil, registryauth.ProbeNotFound, 404, "MANIFEST_UNKNOWN", ""},
		{"an unknown code with control characters is dropped", "code/unknown", nil, registryauth.ProbeNotFound, 404, "", ""},
		{"a 10 KiB code is dropped", "code/10k", nil, registryauth.ProbeNotFound, 404, "", ""},
		{"a 60 KiB code is dropped", "code/60k", nil, registryauth.ProbeNotFound, 404, "", ""},
		{"a 60 KiB code with an unexpected status", "code/60k-teapot", nil, registryauth.ProbeUnavailable, 418, "", "the registry answered HTTP 418"},
		{"200 to GET after 405 to HEAD", "get/only", nil, registryauth.ProbeOK, 200, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vd := p.Probe(context.Background(), img(t, m.Host+"/"+tt.repo+":1"), tt.cred)
			if vd.Status != tt.want || vd.HTTPStatus != tt.http || vd.Code != tt.code || vd.Reason != tt.reason {
				t.Fatalf("verdict %+v, want %s, HTTP %d, code %q, reason %q", vd, tt.want, tt.http, tt.code, tt.reason)
			}
			if len(vd.Reason)+len(vd.Code)+len(vd.Detail) > 300 {
				t.Fatalf("the verdict holds %d bytes of text", len(vd.Reason)+len(vd.Code)+len(vd.Detail))
			}
		})
	}
}

// countingTransport counts the response body bytes the prober reads.
type countingTransport struct {
	next http.RoundTripper
	read atomic.Int64
}

func (c *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := c.next.RoundTrip(req)
	if err == nil {
		resp.Body = countingBody{resp.Body, &c.read}
	}
	return resp, err
}

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

// TestStreamingRegistryIsNotRead is issue 11's row: a registry that answers 405 to HEAD and
// streams 100 MiB to GET with no Content-Length, 8 images on 8 repositories, probed at once.
// A probe needs the status only: bytes read and memory stay small.
func TestStreamingRegistryIsNotRead(t *testing.T) {
	m := misbehaving(t)
	base, err := probe.NewTransport([]string{tlsFiles.CAFile}, nil)
	if err != nil {
		t.Fatal(err)
	}
	counting := &countingTransport{next: base}
	p, _ := newProber(t, probe.Options{Transport: counting})
	clearPeakRSS(t)
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	peak := samplePeakHeap(t)

	var wg sync.WaitGroup
	verdicts := make([]registryauth.Verdict, 8)
	for i := range verdicts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			verdicts[i] = p.Probe(context.Background(), img(t, m.Host+"/stream/repo"+strconv.Itoa(i)+":1"), nil)
		}()
	}
	wg.Wait()
	heapPeak := peak()
	rss := peakRSS(t)
	t.Logf("8 probes of a 100 MiB streaming registry: read %d bytes, server wrote %d bytes, heap peak %.1f MiB over %.1f MiB before, process peak RSS %.1f MiB",
		counting.read.Load(), m.Written(), mib(heapPeak-before.HeapInuse), mib(before.HeapInuse), mib(rss))
	for i, vd := range verdicts {
		if vd.Status != registryauth.ProbeOK {
			t.Errorf("image %d: verdict %+v, want ok (the registry answered 200)", i, vd)
		}
	}
	// Nothing of the manifests is read: the ping and the status are the whole probe.
	if n := counting.read.Load(); n > probe.MaxErrorBody {
		t.Errorf("read %d bytes of bodies, want at most %d", n, probe.MaxErrorBody)
	}
	// The issue measured 800 MiB read and 1.9 GiB resident; the pod's limit is 256 MiB.
	if grown := heapPeak - before.HeapInuse; grown > 32<<20 {
		t.Errorf("heap grew %.1f MiB during the probes, want under 32 MiB", mib(grown))
	}
	if rss > 256<<20 {
		t.Errorf("peak RSS %.1f MiB, over the pod's 256 MiB", mib(rss))
	}
}

// TestStreamingPing: a registry that streams without end to every request, the /v2/ ping
// included (go-containerregistry drains the ping's body to reuse the connection). The
// prober stops reading at MaxBody.
func TestStreamingPing(t *testing.T) {
	var m *harness.Misbehaving
	m, err := harness.StartMisbehaving(tlsFiles, func(w http.ResponseWriter, r *http.Request) { m.Stream(w, r, 100<<20) })
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	base, err := probe.NewTransport([]string{tlsFiles.CAFile}, nil)
	if err != nil {
		t.Fatal(err)
	}
	counting := &countingTransport{next: base}
	p, _ := newProber(t, probe.Options{Transport: counting})
	vd := p.Probe(context.Background(), img(t, m.Host+"/acme/app:1"), nil)
	n := counting.read.Load()
	t.Logf("verdict %+v after reading %d bytes (the server wrote %d)", vd, n, m.Written())
	if n > probe.MaxBody+1 {
		t.Fatalf("read %d bytes, want at most %d", n, probe.MaxBody+1)
	}
}

func mib(n uint64) float64 { return float64(n) / (1 << 20) }

// samplePeakHeap samples the heap in use every few milliseconds until the returned function
// is called, which returns the highest sample.
func samplePeakHeap(t *testing.T) func() uint64 {
	t.Helper()
	var peak atomic.Uint64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	return func() uint64 {
		close(stop)
		<-done
		return peak.Load()
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
