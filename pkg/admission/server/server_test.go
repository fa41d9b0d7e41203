package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8stypes "k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"

	"github.com/pullguard/pullguard/certs"
	"github.com/pullguard/pullguard/pkg/admission/decision"
)

// silentAPIServer accepts connections and never answers, so the caches never sync.
func silentAPIServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return "http://" + l.Addr().String()
}

type running struct {
	base, health, metrics string
	certFile, keyFile     string
	client                *http.Client
}

// start runs a server whose caches cannot sync, with the given default failure policy.
func start(t *testing.T, failure decision.FailurePolicy) *running {
	t.Helper()
	bundle, err := certs.Generate("pullguard", []string{"127.0.0.1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	os.WriteFile(cert, bundle.Cert, 0o600)
	os.WriteFile(key, bundle.Key, 0o600)
	ports := make([]string, 3)
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ports[i] = l.Addr().String()
		l.Close()
	}
	srv, err := New(&rest.Config{Host: silentAPIServer(t), Timeout: time.Second}, Options{
		BindAddress: ports[0], MetricsBindAddress: ports[1], HealthProbeBindAddress: ports[2],
		TLSCertFile: cert, TLSKeyFile: key,
		Defaults: decision.Policy{Mode: decision.Enforce, FailurePolicy: failure},
		Log:      slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(bundle.CACert)
	r := &running{
		base: "https://" + ports[0], health: "http://" + ports[2], metrics: "http://" + ports[1] + "/metrics",
		certFile: cert, keyFile: key,
		client: &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}},
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if resp, err := r.client.Get(r.health + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				if c, err := tls.Dial("tcp", ports[0], &tls.Config{RootCAs: pool}); err == nil {
					c.Close()
					return r
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("server did not come up")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func review(t *testing.T, r *running, path, body string) (*admissionv1.AdmissionResponse, int) {
	t.Helper()
	resp, err := r.client.Post(r.base+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out admissionv1.AdmissionReview
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &out); err != nil || out.Response == nil {
		t.Fatalf("not an AdmissionReview (%d): %s", resp.StatusCode, raw)
	}
	return out.Response, resp.StatusCode
}

func podReview(t *testing.T, uid string) string {
	t.Helper()
	b, err := json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID:       k8stypes.UID("uid-" + uid),
			Kind:      metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
			Resource:  metav1.GroupVersionResource{Version: "v1", Resource: "pods"},
			Namespace: "team-a",
			Operation: admissionv1.Create,
			Object:    runtime.RawExtension{Raw: []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"a","image":"quay.io/a/b"}]}}`)},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestUndecidedFollowsTheFailurePolicy(t *testing.T) {
	closed := start(t, decision.FailClosed)
	resp, _ := review(t, closed, MutatePath, podReview(t, "1"))
	if resp.Allowed || !strings.Contains(resp.Result.Message, "pullguard could not check the images: its caches are not synced yet") {
		t.Fatalf("fail-closed: %+v", resp)
	}
	if string(resp.UID) != "uid-1" {
		t.Errorf("UID = %q", resp.UID)
	}

	open := start(t, decision.FailOpen)
	resp, _ = review(t, open, MutatePath, podReview(t, "2"))
	if !resp.Allowed || len(resp.Warnings) != 1 || !strings.HasPrefix(resp.Warnings[0], "pullguard: could not check the images: its caches are not synced") {
		t.Fatalf("fail-open: %+v", resp)
	}

	// Readiness waits for the caches; liveness does not.
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 503} {
		got, err := open.client.Get(open.health + path)
		if err != nil {
			t.Fatal(err)
		}
		got.Body.Close()
		if got.StatusCode != want {
			t.Errorf("%s = %d, want %d", path, got.StatusCode, want)
		}
	}

	// A malformed review is a clear error, never a crash (controller-runtime answers it
	// with a 400 status inside the review).
	resp, code := review(t, open, MutatePath, `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":`)
	if code != http.StatusOK || resp.Allowed || resp.Result == nil || resp.Result.Code != http.StatusBadRequest {
		t.Errorf("malformed review: %d %+v", code, resp)
	}

	// The exposition of the fixed-label metrics, and beside them controller-runtime's
	// registry: the webhook's requests, the certificate reads, and client-go's requests
	// (to an API server that never answers: errors, once the 1s client timeout passes).
	wants := []string{
		`pullguard_admission_requests_total{kind="Pod",operation="CREATE",result="error"} 1`,
		`pullguard_cached_pull_secrets 0`,
		`pullguard_images_total{outcome="injected"} 0`,
		`pullguard_admission_duration_seconds_count{kind="Pod"} 1`,
		`pullguard_build_info{version="`,
		`controller_runtime_webhook_requests_total{code="200",webhook="/mutate"} `,
		`controller_runtime_webhook_requests_in_flight{webhook="/validate"} 0`,
		`certwatcher_read_certificate_total `,
		`rest_client_requests_total{code="<error>",host="127.0.0.1:`,
	}
	var text []byte
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		metrics, err := open.client.Get(open.metrics)
		if err != nil {
			t.Fatal(err)
		}
		text, _ = io.ReadAll(metrics.Body)
		metrics.Body.Close()
		if metrics.StatusCode != http.StatusOK {
			t.Fatalf("/metrics: %d\n%s", metrics.StatusCode, text)
		}
		if bytes.Contains(text, []byte(wants[len(wants)-1])) || time.Now().After(deadline) {
			break
		}
	}
	for _, want := range wants {
		if !bytes.Contains(text, []byte(want)) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

func TestTLSRefusesOldVersionsAndHTTP2(t *testing.T) {
	r := start(t, decision.FailOpen)
	addr := strings.TrimPrefix(r.base, "https://")
	if c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS11}); err == nil {
		c.Close()
		t.Error("TLS 1.1 accepted")
	}
	c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2", "http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if p := c.ConnectionState().NegotiatedProtocol; p == "h2" {
		t.Error("HTTP/2 negotiated while off by default")
	}
}

func TestMetricsLabelsAreBounded(t *testing.T) {
	m := NewMetrics(func() int { return 7 })
	m.observe("Frobnicator", "PATCH", resultAllowed, time.Millisecond)
	m.observe("Pod", "CREATE", resultPatched, time.Millisecond)
	want := `
# HELP pullguard_admission_requests_total Admission requests by kind, operation and result (allowed, patched, warned, denied, error).
# TYPE pullguard_admission_requests_total counter
pullguard_admission_requests_total{kind="Pod",operation="CREATE",result="patched"} 1
pullguard_admission_requests_total{kind="other",operation="other",result="allowed"} 1
# HELP pullguard_cached_pull_secrets Pull secrets held in the cache, across namespaces.
# TYPE pullguard_cached_pull_secrets gauge
pullguard_cached_pull_secrets 7
`
	if err := testutil.GatherAndCompare(m.Registry, strings.NewReader(want), "pullguard_admission_requests_total", "pullguard_cached_pull_secrets"); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(m.images); n != len(decision.Outcomes) {
		t.Fatalf("images_total series = %d, want one per outcome", n)
	}
}

// TestServingCertificateReloads rotates the certificate files under a running server and
// waits for the new certificate to be served, without a restart.
func TestServingCertificateReloads(t *testing.T) {
	r := start(t, decision.FailOpen)
	addr := strings.TrimPrefix(r.base, "https://")
	served := func() string {
		c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			return ""
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].SerialNumber.String()
	}
	before := served()
	bundle, err := certs.Generate("pullguard-rotated", []string{"127.0.0.1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	// Write the key first, then the certificate, as a secret volume update would swap both.
	os.WriteFile(r.keyFile, bundle.Key, 0o600)
	os.WriteFile(r.certFile, bundle.Cert, 0o600)
	deadline := time.Now().Add(30 * time.Second)
	for served() == before {
		if time.Now().After(deadline) {
			t.Fatal("the rotated certificate was not served within 30s")
		}
		time.Sleep(100 * time.Millisecond)
	}
}
