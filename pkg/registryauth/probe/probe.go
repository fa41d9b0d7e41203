package probe

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"golang.org/x/sync/singleflight"

	"github.com/pullguard/pullguard/pkg/registryauth"
)

// Observer records probes and cache lookups (pullguard's metrics implement it).
type Observer interface {
	// ObserveProbe records a probe sent to a registry: its verdict and how long it took.
	ObserveProbe(status registryauth.ProbeStatus, took time.Duration)
	// ObserveCache records a lookup: hit is true when a cached verdict answered.
	ObserveCache(hit bool)
}

// Options configure a Prober.
type Options struct {
	// CAFiles are PEM bundles trusted beside the system roots.
	CAFiles []string
	// Timeout bounds one probe, even when the review that asked is gone (probes are
	// shared). Default 10s.
	Timeout time.Duration
	// SuccessTTL and FailureTTL keep definite answers; unavailable ones are not kept.
	// Defaults 5m and 30s.
	SuccessTTL time.Duration
	FailureTTL time.Duration
	// StaleTTL keeps admitting on a success this old while the registry is unavailable.
	// Default 1h.
	StaleTTL time.Duration
	// PerRegistry bounds the probes in flight to one registry. Default 8.
	PerRegistry int
	// Observer, if set, records probes and cache lookups.
	Observer Observer
	// Transport replaces the default transport (system proxy settings, system roots plus
	// CAFiles, TLS 1.2 or later).
	Transport http.RoundTripper
}

// Prober asks registries about manifests. Safe for concurrent use.
type Prober struct {
	opts      Options
	transport http.RoundTripper
	flight    singleflight.Group

	mu    sync.Mutex
	cache map[registryauth.ProbeKey]entry
	slots map[string]chan struct{}
}

type entry struct {
	verdict registryauth.Verdict
	fresh   time.Time // answers from the cache until then
	stale   time.Time // for a success: still admits until then if the registry is unavailable
}

// maxCacheEntries bounds the cache; when full, expired entries go, then everything.
const maxCacheEntries = 50000

// New returns a Prober.
func New(opts Options) (*Prober, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.SuccessTTL <= 0 {
		opts.SuccessTTL = 5 * time.Minute
	}
	if opts.FailureTTL <= 0 {
		opts.FailureTTL = 30 * time.Second
	}
	if opts.StaleTTL <= 0 {
		opts.StaleTTL = time.Hour
	}
	if opts.PerRegistry <= 0 {
		opts.PerRegistry = 8
	}
	p := &Prober{opts: opts, transport: opts.Transport, cache: map[registryauth.ProbeKey]entry{}, slots: map[string]chan struct{}{}}
	if p.transport == nil {
		t, err := NewTransport(opts.CAFiles)
		if err != nil {
			return nil, err
		}
		p.transport = t
	}
	p.transport = httpsOnly{p.transport}
	return p, nil
}

// errPlainHTTP refuses plain-HTTP requests. go-containerregistry falls back to HTTP for
// loopback and private addresses; containerd does not unless configured to, and a probe that
// silently spoke HTTP to an HTTPS registry would only report a confusing HTTP 400.
var errPlainHTTP = errors.New("plain HTTP is not used for probes")

type httpsOnly struct{ next http.RoundTripper }

func (h httpsOnly) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != "https" {
		return nil, errPlainHTTP
	}
	return h.next.RoundTrip(req)
}

// NewTransport returns an HTTP transport that honours HTTPS_PROXY and NO_PROXY and trusts
// the system roots plus the PEM bundles of caFiles.
func NewTransport(caFiles []string) (*http.Transport, error) {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	for _, f := range caFiles {
		pem, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("--registry-ca-file: %w", err)
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--registry-ca-file %s: no PEM certificate found", f)
		}
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = http.ProxyFromEnvironment
	t.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	t.MaxIdleConnsPerHost = 16
	return t, nil
}

// Probe asks whether img's manifest can be pulled with cred (nil: anonymously). It returns
// when the answer is in or ctx ends (then the verdict is unavailable; the probe itself goes
// on for others waiting on it, up to Options.Timeout).
func (p *Prober) Probe(ctx context.Context, img registryauth.Image, cred *registryauth.Credential) registryauth.Verdict {
	key := registryauth.ProbeKeyFor(img, cred)
	now := time.Now()
	cached, have := p.lookup(key)
	if have && now.Before(cached.fresh) {
		p.observeCache(true)
		return cached.verdict
	}
	p.observeCache(false)
	ch := p.flight.DoChan(keyString(key), func() (any, error) {
		return p.ask(img, cred, key), nil
	})
	var vd registryauth.Verdict
	select {
	case res := <-ch:
		vd = res.Val.(registryauth.Verdict)
	case <-ctx.Done():
		vd = registryauth.Verdict{Status: registryauth.ProbeUnavailable, Reason: reason(ctx.Err(), durationOf(ctx, now))}
	}
	// A registry that cannot be reached does not undo a recent success.
	if !vd.Definite() && have && cached.verdict.Status == registryauth.ProbeOK && now.Before(cached.stale) {
		return cached.verdict
	}
	return vd
}

// ask sends one probe, waiting for a slot of the registry, and caches a definite answer.
func (p *Prober) ask(img registryauth.Image, cred *registryauth.Credential, key registryauth.ProbeKey) registryauth.Verdict {
	ctx, cancel := context.WithTimeout(context.Background(), p.opts.Timeout)
	defer cancel()
	start := time.Now()
	slot := p.slot(img.Registry)
	select {
	case slot <- struct{}{}:
		defer func() { <-slot }()
	case <-ctx.Done():
		return registryauth.Verdict{Status: registryauth.ProbeUnavailable, Reason: "too many probes to " + img.Registry + " in flight"}
	}
	vd := p.head(ctx, img, cred)
	if cred != nil {
		vd.Reason = scrub(vd.Reason, *cred)
	}
	took := time.Since(start)
	if p.opts.Observer != nil {
		p.opts.Observer.ObserveProbe(vd.Status, took)
	}
	p.store(key, vd)
	return vd
}

func (p *Prober) head(ctx context.Context, img registryauth.Image, cred *registryauth.Credential) registryauth.Verdict {
	sep := ":"
	if img.Digest != "" {
		sep = "@"
	}
	ref, err := name.ParseReference(img.Name + sep + img.Reference())
	if err != nil {
		return registryauth.Verdict{Status: registryauth.ProbeUnavailable, Reason: "cannot form a registry request for the reference"}
	}
	auth := authn.Anonymous
	if cred != nil && !cred.Empty() {
		auth = authn.FromConfig(authn.AuthConfig{Username: cred.Username(), Password: cred.Password()})
	}
	options := []remote.Option{
		remote.WithContext(ctx),
		remote.WithAuth(auth),
		remote.WithTransport(p.transport),
		remote.WithUserAgent("pullguard"),
		// The failure policy and the cache deal with flaky registries; a review has no
		// time for retries.
		remote.WithRetryBackoff(remote.Backoff{Steps: 1}),
	}
	_, err = remote.Head(ref, options...)
	var terr *transport.Error
	if errors.As(err, &terr) && terr.StatusCode == http.StatusMethodNotAllowed {
		_, err = remote.Get(ref, options...)
	}
	return classify(err, p.opts.Timeout.String())
}

func (p *Prober) slot(registry string) chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	s, ok := p.slots[registry]
	if !ok {
		s = make(chan struct{}, p.opts.PerRegistry)
		p.slots[registry] = s
	}
	return s
}

func (p *Prober) lookup(key registryauth.ProbeKey) (entry, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	e, ok := p.cache[key]
	return e, ok
}

func (p *Prober) store(key registryauth.ProbeKey, vd registryauth.Verdict) {
	if !vd.Definite() {
		return
	}
	now := time.Now()
	e := entry{verdict: vd, fresh: now.Add(p.opts.FailureTTL)}
	if vd.Status == registryauth.ProbeOK {
		e.fresh, e.stale = now.Add(p.opts.SuccessTTL), now.Add(p.opts.StaleTTL)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.cache) >= maxCacheEntries {
		for k, old := range p.cache {
			if now.After(old.fresh) && now.After(old.stale) {
				delete(p.cache, k)
			}
		}
		if len(p.cache) >= maxCacheEntries {
			p.cache = map[registryauth.ProbeKey]entry{}
		}
	}
	p.cache[key] = e
}

func (p *Prober) observeCache(hit bool) {
	if p.opts.Observer != nil {
		p.opts.Observer.ObserveCache(hit)
	}
}

func keyString(k registryauth.ProbeKey) string {
	return k.Name + "\x00" + k.Reference + "\x00" + k.Credential
}

// scrub removes a credential from text that came from elsewhere, as a last defence.
func scrub(text string, cred registryauth.Credential) string {
	if pw := cred.Password(); len(pw) >= 4 {
		text = strings.ReplaceAll(text, pw, "[redacted]")
	}
	return text
}

func durationOf(ctx context.Context, start time.Time) string {
	if deadline, ok := ctx.Deadline(); ok {
		return deadline.Sub(start).Round(100 * time.Millisecond).String()
	}
	return time.Since(start).Round(100 * time.Millisecond).String()
}
