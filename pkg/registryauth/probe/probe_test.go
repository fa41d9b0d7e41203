package probe_test

import (
	"context"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pullguard/pullguard/pkg/registryauth"
	"github.com/pullguard/pullguard/pkg/registryauth/probe"
	"github.com/pullguard/pullguard/test/harness"
)

const (
	user     = "ci-bot"
	password = "not-a-real-password-probe"
)

// registries are real docker-registry processes on loopback, shared by the tests.
var (
	tlsFiles                *harness.TLS
	basic, anonymous, token *harness.Registry
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "pullguard-probe-")
	if err != nil {
		panic(err)
	}
	code := func() int {
		defer os.RemoveAll(dir)
		if tlsFiles, err = harness.NewTLS(dir); err != nil {
			panic(err)
		}
		users := map[string]string{user: password}
		if basic, err = harness.StartRegistry(dir+"/basic", tlsFiles, harness.RegistryAuth{Users: users}); err != nil {
			panic(err)
		}
		defer basic.Stop()
		if anonymous, err = harness.StartRegistry(dir+"/anonymous", tlsFiles, harness.RegistryAuth{}); err != nil {
			panic(err)
		}
		defer anonymous.Stop()
		ts, err := harness.StartTokenServer(dir, tlsFiles, users)
		if err != nil {
			panic(err)
		}
		defer ts.Close()
		if token, err = harness.StartRegistry(dir+"/token", tlsFiles, harness.RegistryAuth{Token: ts}); err != nil {
			panic(err)
		}
		defer token.Stop()
		ctx := context.Background()
		for _, push := range []struct {
			r    *harness.Registry
			user string
		}{{basic, user}, {anonymous, ""}, {token, user}} {
			if _, err := push.r.Push(ctx, "acme/app:1.0", push.user, password); err != nil {
				panic(err)
			}
		}
		return m.Run()
	}()
	os.Exit(code)
}

type counter struct {
	probes, hits, misses atomic.Int64
}

func (c *counter) ObserveProbe(registryauth.ProbeStatus, time.Duration) { c.probes.Add(1) }
func (c *counter) ObserveCache(hit bool) {
	if hit {
		c.hits.Add(1)
	} else {
		c.misses.Add(1)
	}
}

func newProber(t *testing.T, o probe.Options) (*probe.Prober, *counter) {
	t.Helper()
	c := &counter{}
	if o.CAFiles == nil {
		o.CAFiles = []string{tlsFiles.CAFile}
	}
	// The test registries are on loopback, which the default list denies.
	if o.DenyNetworks == nil {
		o.DenyNetworks = []netip.Prefix{}
	}
	o.Observer = c
	p, err := probe.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return p, c
}

func img(t *testing.T, ref string) registryauth.Image {
	t.Helper()
	i, err := registryauth.ParseImage(ref)
	if err != nil {
		t.Fatal(err)
	}
	return i
}

func cred(pass string) *registryauth.Credential {
	c := registryauth.NewCredential(user, pass)
	return &c
}

func TestVerdicts(t *testing.T) {
	p, _ := newProber(t, probe.Options{})
	tests := []struct {
		name string
		ref  string
		cred *registryauth.Credential
		want registryauth.ProbeStatus
		code int
	}{
		{"basic: good credentials", basic.Host + "/acme/app:1.0", cred(password), registryauth.ProbeOK, 200},
		{"basic: stale credentials", basic.Host + "/acme/app:1.0", cred("expired-password"), registryauth.ProbeUnauthorized, 401},
		{"basic: anonymous", basic.Host + "/acme/app:1.0", nil, registryauth.ProbeUnauthorized, 401},
		{"basic: missing tag", basic.Host + "/acme/app:1.0-typo", cred(password), registryauth.ProbeNotFound, 404},
		{"basic: missing repository", basic.Host + "/acme/nope:1", cred(password), registryauth.ProbeNotFound, 404},
		{"anonymous registry", anonymous.Host + "/acme/app:1.0", nil, registryauth.ProbeOK, 200},
		{"anonymous registry: missing tag", anonymous.Host + "/acme/app:2.0", nil, registryauth.ProbeNotFound, 404},
		{"token: good credentials", token.Host + "/acme/app:1.0", cred(password), registryauth.ProbeOK, 200},
		{"token: stale credentials", token.Host + "/acme/app:1.0", cred("expired-password"), registryauth.ProbeUnauthorized, 401},
		{"token: anonymous", token.Host + "/acme/app:1.0", nil, registryauth.ProbeUnauthorized, 401},
		{"token: missing tag", token.Host + "/acme/app:9", cred(password), registryauth.ProbeNotFound, 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vd := p.Probe(context.Background(), img(t, tt.ref), tt.cred)
			if vd.Status != tt.want || vd.HTTPStatus != tt.code {
				t.Fatalf("verdict %+v, want %s (HTTP %d)", vd, tt.want, tt.code)
			}
			if strings.Contains(vd.Reason+vd.Code+vd.Detail, password) {
				t.Fatal("a verdict shows the password")
			}
		})
	}
}

func TestHangingRegistryEndsWithTheBudget(t *testing.T) {
	host, closeIt, err := harness.HangingListener()
	if err != nil {
		t.Fatal(err)
	}
	defer closeIt()
	p, _ := newProber(t, probe.Options{Timeout: 5 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	vd := p.Probe(ctx, img(t, host+"/acme/app:1"), nil)
	// The review's budget ended it (500ms), not the probe's own timeout (5s): the detail
	// names which deadline passed, with no clock read by the test.
	if vd.Status != registryauth.ProbeUnavailable || vd.Reason != probe.ReasonUnreachable || vd.Detail != "no answer within 500ms" {
		t.Fatalf("verdict %+v", vd)
	}
}

func TestUntrustedCertificate(t *testing.T) {
	p, _ := newProber(t, probe.Options{CAFiles: []string{}})
	vd := p.Probe(context.Background(), img(t, anonymous.Host+"/acme/app:1.0"), nil)
	if vd.Status != registryauth.ProbeUnavailable || vd.Reason != probe.ReasonUnreachable || !strings.Contains(vd.Detail, "unknown authority") {
		t.Fatalf("verdict %+v", vd)
	}
}

func TestCacheAndMergedProbes(t *testing.T) {
	p, c := newProber(t, probe.Options{})
	image := img(t, basic.Host+"/acme/app:1.0")
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if vd := p.Probe(context.Background(), image, cred(password)); vd.Status != registryauth.ProbeOK {
				t.Errorf("verdict %+v", vd)
			}
		}()
	}
	wg.Wait()
	if n := c.probes.Load(); n != 1 {
		t.Errorf("20 concurrent identical probes sent %d requests, want 1", n)
	}
	p.Probe(context.Background(), image, cred(password))
	if c.hits.Load() == 0 {
		t.Error("a repeated probe must be answered from the cache")
	}
	// Another credential is another probe.
	p.Probe(context.Background(), image, cred("expired-password"))
	if n := c.probes.Load(); n != 2 {
		t.Errorf("probes = %d, want 2", n)
	}
}

func TestCachedSuccessOutlivesTheRegistry(t *testing.T) {
	dir := t.TempDir()
	r, err := harness.StartRegistry(dir, tlsFiles, harness.RegistryAuth{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Stop()
	if _, err := r.Push(context.Background(), "acme/app:1", "", ""); err != nil {
		t.Fatal(err)
	}
	// A success TTL shorter than the wait below forces a fresh probe, which fails.
	p, _ := newProber(t, probe.Options{SuccessTTL: time.Millisecond})
	image := img(t, r.Host+"/acme/app:1")
	if vd := p.Probe(context.Background(), image, nil); vd.Status != registryauth.ProbeOK {
		t.Fatalf("verdict %+v", vd)
	}
	r.Stop()
	time.Sleep(10 * time.Millisecond)
	if vd := p.Probe(context.Background(), image, nil); vd.Status != registryauth.ProbeOK {
		t.Fatalf("with the registry down, a recent success must still admit: %+v", vd)
	}
	other := img(t, r.Host+"/acme/app:2")
	if vd := p.Probe(context.Background(), other, nil); vd.Status != registryauth.ProbeUnavailable || vd.Reason != probe.ReasonUnreachable || vd.Detail != "connection refused" {
		t.Fatalf("an uncached image with the registry down: %+v", vd)
	}
}

// BenchmarkProbe measures a cold probe (a new prober: TLS handshake, ping, auth, HEAD) and a
// cached one, against the basic-auth and token registries.
func BenchmarkProbe(b *testing.B) {
	for _, r := range []struct {
		name string
		reg  **harness.Registry
	}{{"basic", &basic}, {"token", &token}} {
		image, _ := registryauth.ParseImage((*r.reg).Host + "/acme/app:1.0")
		b.Run(r.name+"/cold", func(b *testing.B) {
			for b.Loop() {
				p, _ := probe.New(probe.Options{CAFiles: []string{tlsFiles.CAFile}, DenyNetworks: []netip.Prefix{}})
				if vd := p.Probe(context.Background(), image, cred(password)); vd.Status != registryauth.ProbeOK {
					b.Fatalf("verdict %+v", vd)
				}
			}
		})
		b.Run(r.name+"/cached", func(b *testing.B) {
			p, _ := probe.New(probe.Options{CAFiles: []string{tlsFiles.CAFile}, DenyNetworks: []netip.Prefix{}})
			p.Probe(context.Background(), image, cred(password))
			c := cred(password)
			b.ReportAllocs()
			for b.Loop() {
				p.Probe(context.Background(), image, c)
			}
		})
	}
}
