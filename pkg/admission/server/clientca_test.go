package server

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"github.com/pullguard/pullguard/certs"
)

// TestClientCertificateRequired: with ClientCAFile the port serves only clients whose
// certificate chains to it, and follows the file when it is replaced.
func TestClientCertificateRequired(t *testing.T) {
	dir := t.TempDir()
	serving, err := certs.Generate("pullguard", []string{"127.0.0.1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	// certs.Generate's leaf is a server certificate; a client needs clientAuth, so each
	// "client CA" here is one more generated CA whose leaf is re-signed below.
	oldCA, newCA := clientCA(t), clientCA(t)
	caFile := filepath.Join(dir, "client-ca.crt")
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	os.WriteFile(certFile, serving.Cert, 0o600)
	os.WriteFile(keyFile, serving.Key, 0o600)
	os.WriteFile(caFile, oldCA.caPEM, 0o600)
	ports := freeAddrs(t, 3)
	srv, err := New(silentConfig(t), Options{
		BindAddress: ports[0], MetricsBindAddress: ports[1], HealthProbeBindAddress: ports[2],
		TLSCertFile: certFile, TLSKeyFile: keyFile, ClientCAFile: caFile,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	runInBackground(t, srv)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(serving.CACert)
	call := func(cert *tls.Certificate) error {
		cfg := &tls.Config{RootCAs: pool}
		if cert != nil {
			cfg.Certificates = []tls.Certificate{*cert}
		}
		client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
		defer client.CloseIdleConnections()
		resp, err := client.Post("https://"+ports[0]+MutatePath, "application/json", strings.NewReader(podReview(t, "1")))
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	}
	waitFor(t, func() bool { return call(&oldCA.cert) == nil }, "the server to answer a client of the CA")
	if err := call(nil); err == nil || !strings.Contains(err.Error(), "certificate required") {
		t.Errorf("no client certificate: %v", err)
	}
	if err := call(&newCA.cert); err == nil {
		t.Error("a certificate of a CA not in the file was accepted")
	}

	os.WriteFile(caFile, newCA.caPEM, 0o600)
	start := time.Now()
	waitFor(t, func() bool { return call(&newCA.cert) == nil }, "the replaced CA file to be followed")
	t.Logf("the new CA was in force %s after the file changed (polled every %s)", time.Since(start).Round(time.Millisecond), clientCAPollInterval)
	if err := call(&oldCA.cert); err == nil {
		t.Error("a certificate of the removed CA is still accepted")
	}
}

type testClientCA struct {
	caPEM []byte
	cert  tls.Certificate
}

// clientCA makes a CA and a client certificate (clientAuth) it signed.
func clientCA(t *testing.T) testClientCA {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Now()
	caTemplate := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "client CA"},
		NotBefore: now.Add(-time.Minute), NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTemplate, caTemplate, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "kube-apiserver"},
		NotBefore: now.Add(-time.Minute), NotAfter: now.Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return testClientCA{
		caPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		cert:  tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key},
	}
}

func freeAddrs(t *testing.T, n int) []string {
	t.Helper()
	var addrs []string
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addrs = append(addrs, l.Addr().String())
		defer l.Close()
	}
	return addrs
}

func silentConfig(t *testing.T) *rest.Config {
	return &rest.Config{Host: silentAPIServer(t), Timeout: time.Second}
}

func runInBackground(t *testing.T, srv *Server) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

// waitFor polls cond for up to 30 s (three reload intervals).
func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(3 * clientCAPollInterval)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
