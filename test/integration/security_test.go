package integration

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"github.com/pullguard/pullguard/internal/procmem"
	"github.com/pullguard/pullguard/pkg/admission/decision"
	"github.com/pullguard/pullguard/pkg/admission/server"
	"github.com/pullguard/pullguard/pkg/registryauth"
	"github.com/pullguard/pullguard/test/harness"
)

// clientPKI is a CA and one client certificate it signed.
type clientPKI struct {
	caPEM   []byte
	certPEM []byte
	keyPEM  []byte
}

func (p clientPKI) tlsCertificate(t *testing.T) tls.Certificate {
	t.Helper()
	c, err := tls.X509KeyPair(p.certPEM, p.keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// newClientPKI makes a CA and a client certificate (ExtKeyUsageClientAuth) for cn.
func newClientPKI(t *testing.T, cn string) clientPKI {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTemplate := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn + " CA"},
		NotBefore: now.Add(-time.Minute), NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTemplate, caTemplate, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: cn},
		NotBefore: now.Add(-time.Minute), NotAfter: now.Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return clientPKI{
		caPEM:   pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	}
}

// secureEnv is a cluster of its own whose kube-apiserver presents a client certificate to
// pullguard (its AdmissionConfiguration's WebhookAdmission kubeconfig names pullguard's
// host:port), and pullguard started with --client-ca-file for that certificate's CA.
type secureEnv struct {
	cluster   *harness.Cluster
	webhook   *harness.Webhook
	apiServer clientPKI
}

// admissionConfiguration is what an admin gives kube-apiserver with
// --admission-control-config-file (README, "Only the API server may ask").
const admissionConfiguration = `apiVersion: apiserver.config.k8s.io/v1
kind: AdmissionConfiguration
plugins:
- name: MutatingAdmissionWebhook
  configuration:
    apiVersion: apiserver.config.k8s.io/v1
    kind: WebhookAdmissionConfiguration
    kubeConfigFile: %[1]s
- name: ValidatingAdmissionWebhook
  configuration:
    apiVersion: apiserver.config.k8s.io/v1
    kind: WebhookAdmissionConfiguration
    kubeConfigFile: %[1]s
`

// webhookKubeconfig gives the API server a client certificate for one webhook host: the
// user's name is the host:port of the webhook's URL (for a Service on port 443,
// <service>.<namespace>.svc).
const webhookKubeconfig = `apiVersion: v1
kind: Config
users:
- name: %q
  user:
    client-certificate-data: %s
    client-key-data: %s
`

func startSecure(t *testing.T, drain time.Duration) *secureEnv {
	t.Helper()
	dir := t.TempDir()
	env := &secureEnv{apiServer: newClientPKI(t, "kube-apiserver-webhook-client")}
	port, err := harness.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	hostPort := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	kubeconfig := filepath.Join(dir, "webhook-kubeconfig.yaml")
	admission := filepath.Join(dir, "admission.yaml")
	caFile := filepath.Join(dir, "client-ca.crt")
	b64 := base64.StdEncoding.EncodeToString
	for file, content := range map[string]string{
		kubeconfig: fmt.Sprintf(webhookKubeconfig, hostPort, b64(env.apiServer.certPEM), b64(env.apiServer.keyPEM)),
		admission:  fmt.Sprintf(admissionConfiguration, kubeconfig),
		caFile:     string(env.apiServer.caPEM),
	} {
		if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	env.cluster, err = harness.StartClusterWith(map[string]string{"admission-control-config-file": admission})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { env.cluster.Stop() })
	private, _ := registryauth.ParsePatterns(privateRegistries)
	// StartWebhook returns once the API server's dry-run reviews reach pullguard: through
	// the client certificate, or not at all.
	env.webhook, err = env.cluster.StartWebhook(context.Background(), server.Options{
		BindAddress:       hostPort,
		ClientCAFile:      caFile,
		DrainDelay:        drain,
		Defaults:          decision.Policy{Mode: decision.Enforce, FailurePolicy: decision.FailOpen},
		PrivateRegistries: private,
		ExcludeNamespaces: server.DefaultExclude,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { env.webhook.Stop() })
	t.Logf("cluster with an API server client certificate, and pullguard with --client-ca-file, up in %s", time.Since(start).Round(time.Millisecond))
	return env
}

// forgedReview is what any pod that can reach pullguard's port could POST: a review that
// claims a namespace it has no business in.
func forgedReview(t *testing.T, ns string) []byte {
	t.Helper()
	b, err := json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID:       types.UID("forged-1"),
			Kind:      metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
			Resource:  metav1.GroupVersionResource{Version: "v1", Resource: "pods"},
			Namespace: ns,
			Operation: admissionv1.Create,
			Object:    k8sruntime.RawExtension{Raw: []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"probe"},"spec":{"containers":[{"name":"a","image":"registry.private.test/acme/app:1"}]}}`)},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// postReview POSTs a review straight to a webhook port, as a pod on the network would.
func postReview(port int, body []byte, cert *tls.Certificate) (*admissionv1.AdmissionResponse, error) {
	// The client does not check pullguard's certificate: what is under test is whether
	// pullguard checks the client's.
	cfg := &tls.Config{InsecureSkipVerify: true}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
	defer client.CloseIdleConnections()
	resp, err := client.Post(fmt.Sprintf("https://127.0.0.1:%d%s", port, server.MutatePath), "application/json", strings.NewReader(string(body)))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var review admissionv1.AdmissionReview
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &review); err != nil || review.Response == nil {
		return nil, fmt.Errorf("not an AdmissionReview (%d): %s", resp.StatusCode, raw)
	}
	return review.Response, nil
}

// reviewsCounted sums pullguard_admission_requests_total: every review pullguard handled.
func reviewsCounted(t *testing.T, w *harness.Webhook) int {
	t.Helper()
	resp, err := http.Get(w.MetricsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	n := 0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "pullguard_admission_requests_total{") {
			continue
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		n += int(v)
	}
	return n
}

// TestOnlyTheAPIServerMayAsk is the issue's row "any pod in the cluster POSTs an
// AdmissionReview claiming namespace payments": without --client-ca-file pullguard answers
// it with payments' secret; with it, the API server's reviews pass and a review without
// the API server's certificate is refused in the TLS handshake, before pullguard reads it.
func TestOnlyTheAPIServerMayAsk(t *testing.T) {
	// The attack, against the suite's webhook (no --client-ca-file).
	payments := namespace(t, "payments-forged", nil)
	pullSecret(t, payments, "payments-pull", "registry.private.test")
	// The secret reaches pullguard's cache through its watch (a review that finds nothing
	// may refresh, but refreshes are rate-limited across the suite): ask until it is there.
	var resp *admissionv1.AdmissionResponse
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		var err error
		resp, err = postReview(webhook.Port, forgedReview(t, payments), nil)
		if err != nil {
			t.Fatalf("without --client-ca-file the forged review is answered: %v", err)
		}
		if strings.Contains(string(resp.Patch), "payments-pull") || time.Now().After(deadline) {
			break
		}
	}
	if !strings.Contains(string(resp.Patch), "payments-pull") {
		t.Fatalf("the forged review's answer should name payments' secret (the attack this test guards against), got %+v", resp)
	}

	env := startSecure(t, 0)
	ns := env.cluster.Namespace(t, "payments", nil)
	env.cluster.CreatePullSecret(t, ns, "payments-pull", "registry.private.test", "ci-bot", testPassword)

	t.Run("the API server's reviews pass", func(t *testing.T) {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "web"},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.private.test/acme/app:1"}}},
		}
		got, err := env.cluster.Client.CoreV1().Pods(ns).Create(context.Background(), p, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		assertSecrets(t, got, "payments-pull")
	})

	stranger := newClientPKI(t, "kube-apiserver-webhook-client")
	strangerCert := stranger.tlsCertificate(t)
	apiServerCert := env.apiServer.tlsCertificate(t)
	before := reviewsCounted(t, env.webhook)
	for _, tc := range []struct {
		name string
		cert *tls.Certificate
	}{
		{"no client certificate", nil},
		{"a certificate of another CA, with the same name", &strangerCert},
	} {
		t.Run("refused: "+tc.name, func(t *testing.T) {
			resp, err := postReview(env.webhook.Port, forgedReview(t, ns), tc.cert)
			if err == nil {
				t.Fatalf("answered: %+v", resp)
			}
			// TLS 1.3 reports the server's alert on the client's first read.
			if !strings.Contains(err.Error(), "remote error: tls:") {
				t.Fatalf("want a TLS alert from pullguard, got %v", err)
			}
			t.Logf("refused: %v", err)
		})
	}
	if after := reviewsCounted(t, env.webhook); after != before {
		t.Errorf("pullguard handled %d refused reviews", after-before)
	}

	// The same forged review with the API server's certificate is answered: what was
	// refused above was the certificate, not the request.
	resp, err := postReview(env.webhook.Port, forgedReview(t, ns), &apiServerCert)
	if err != nil || !resp.Allowed {
		t.Fatalf("with the API server's certificate: %v %+v", err, resp)
	}
}

// TestSIGTERMDuringARollout is the issue's row "SIGTERM during a rollout: the port refuses
// connections 50 ms later": after SIGTERM, /readyz fails at once while reviews are still
// answered for --drain-delay, so a namespace labelled closed sees no "connection refused";
// then the port closes.
func TestSIGTERMDuringARollout(t *testing.T) {
	const drain = 6 * time.Second
	env := startSecure(t, drain)
	ns := env.cluster.Namespace(t, "rollout", map[string]string{"pullguard.io/failure-policy": "closed"})
	env.cluster.CreatePullSecret(t, ns, "acme", "registry.private.test", "ci-bot", testPassword)
	create := func(name string) (*corev1.Pod, error) {
		return env.cluster.Client.CoreV1().Pods(ns).Create(context.Background(), &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.private.test/acme/app:1"}}},
		}, metav1.CreateOptions{})
	}
	readyz := func() int {
		resp, err := http.Get(env.webhook.HealthURL + "/readyz")
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := readyz(); code != http.StatusOK {
		t.Fatalf("readyz before SIGTERM = %d", code)
	}

	start := time.Now()
	env.webhook.Terminate()
	for code := readyz(); code != http.StatusServiceUnavailable; code = readyz() {
		if time.Since(start) > drain {
			t.Fatalf("/readyz did not answer 503 during the drain delay (last: %d; 0 is no answer)", code)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("/readyz failed %s after SIGTERM", time.Since(start).Round(time.Millisecond))

	got, err := create("during-drain")
	inDrain := time.Since(start)
	if err != nil {
		t.Fatalf("a pod created %s into the drain delay of %s was refused: %v", inDrain.Round(time.Millisecond), drain, err)
	}
	assertSecrets(t, got, "acme")
	if inDrain >= drain {
		t.Fatalf("the review took until %s, past the drain delay: nothing shown", inDrain)
	}
	if code := readyz(); code != http.StatusServiceUnavailable {
		t.Errorf("readyz during the drain = %d", code)
	}
	t.Logf("a review %s after SIGTERM was answered (drain delay %s)", inDrain.Round(time.Millisecond), drain)

	if err := env.webhook.Wait(); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if stopped := time.Since(start); stopped < drain {
		t.Errorf("stopped %s after SIGTERM, before the drain delay of %s", stopped, drain)
	}
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", env.webhook.Port), time.Second)
	if err == nil {
		c.Close()
		t.Fatal("the admission port still accepts connections after the drain")
	}
	// Now the API server cannot reach pullguard, and the closed namespace fails closed.
	if _, err := create("after-drain"); err == nil || !strings.Contains(err.Error(), "failed calling webhook") {
		t.Fatalf("after shutdown the closed namespace must fail closed, got %v", err)
	}
}

// TestHeadersThenSilenceIsClosed is the issue's row "3,000 connections that send headers
// and never a body: all still open after 40 s". Each gets a TLS handshake, sends a POST's
// headers announcing a body, and sends nothing more; pullguard must close every one once
// its read timeout passes.
func TestHeadersThenSilenceIsClosed(t *testing.T) {
	const n = 3000
	readTimeout, _ := server.ConnectionTimeouts(3 * time.Second) // the suite's --verify-timeout
	// Generous against the configured timeout: a busy 2-core machine may close late, but
	// never 30 s late; before the fix they stayed open indefinitely.
	bound := readTimeout + 30*time.Second
	addr := fmt.Sprintf("127.0.0.1:%d", webhook.Port)
	headers := "POST " + server.MutatePath + " HTTP/1.1\r\nHost: " + addr + "\r\nContent-Type: application/json\r\nContent-Length: 4096\r\n\r\n"

	var (
		mu       sync.Mutex
		conns    []net.Conn
		dialErrs []error
		closed   atomic.Int64
		lastSent atomic.Int64
		lastSeen atomic.Int64
		wg       sync.WaitGroup
	)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	start := time.Now()
	jobs := make(chan int)
	var dialers sync.WaitGroup
	for range 32 {
		dialers.Add(1)
		go func() {
			defer dialers.Done()
			for range jobs {
				c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
				if err == nil {
					_, err = io.WriteString(c, headers)
				}
				mu.Lock()
				if err != nil {
					dialErrs = append(dialErrs, err)
					mu.Unlock()
					continue
				}
				conns = append(conns, c)
				mu.Unlock()
				lastSent.Store(int64(time.Since(start)))
				wg.Add(1)
				go func() {
					defer wg.Done()
					c.SetReadDeadline(time.Now().Add(bound + 30*time.Second))
					_, err := io.Copy(io.Discard, c)
					var ne net.Error
					if errors.As(err, &ne) && ne.Timeout() {
						return // our own deadline: pullguard never closed it
					}
					closed.Add(1)
					lastSeen.Store(int64(time.Since(start)))
				}()
			}
		}()
	}
	for i := range n {
		jobs <- i
	}
	close(jobs)
	dialers.Wait()
	opened := time.Since(start)
	if len(dialErrs) > 0 {
		t.Fatalf("%d of %d connections could not be opened, first: %v", len(dialErrs), n, dialErrs[0])
	}
	rss, _ := procmem.Field(procmem.Self, "VmRSS") // only logged: 0 if it cannot be read
	t.Logf("%d connections opened with headers sent in %s; test process (clients and pullguard) %.1f MiB resident, %d goroutines",
		n, opened.Round(time.Millisecond), float64(rss)/(1<<20), runtime.NumGoroutine())

	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Duration(lastSent.Load()) - time.Since(start) + bound):
	}
	got := closed.Load()
	if got > 0 {
		t.Logf("%d of %d closed by pullguard; the last %s after the last headers were sent (read timeout %s)",
			got, n, (time.Duration(lastSeen.Load()) - time.Duration(lastSent.Load())).Round(time.Millisecond), readTimeout)
	}
	if got != n {
		t.Fatalf("%d of %d headers-then-silence connections still open %s after the last was opened", n-int(got), n, bound)
	}
}
