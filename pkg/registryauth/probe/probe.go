package probe

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"golang.org/x/sync/singleflight"
	"golang.org/x/time/rate"

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
	// DenyNetworks are networks probes never connect to (--verify-deny-networks), checked
	// on the resolved address at dial time; a probe there is skipped. nil denies nothing:
	// callers pass MustParseNetworks(DefaultDenyNetworks) unless told otherwise.
	DenyNetworks []netip.Prefix
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
	// MaxPerReview is how many probes one review may send (--verify-max-probes); the
	// verify step applies it. Default DefaultMaxPerReview.
	MaxPerReview int
	// MaxInFlight bounds the probes in flight across all reviews. Default
	// DefaultMaxInFlight.
	MaxInFlight int
	// NamespaceRate and NamespaceBurst are each namespace's token bucket of probes.
	// Defaults DefaultNamespaceRate and DefaultNamespaceBurst.
	NamespaceRate  float64
	NamespaceBurst int
	// Observer, if set, records probes and cache lookups.
	Observer Observer
	// Log, if set, receives the cause of each probe that got no answer (Verdict.Detail).
	Log *slog.Logger
	// Transport replaces the default transport (system proxy settings, system roots plus
	// CAFiles, DenyNetworks, TLS 1.2 or later). Body limits and HTTPS-only apply to it too.
	Transport http.RoundTripper
}

// Prober asks registries about manifests. Safe for concurrent use.
type Prober struct {
	opts       Options
	transport  http.RoundTripper
	flight     singleflight.Group
	cache      cache
	slots      *slots
	inFlight   chan struct{}
	namespaces *namespaceRates
}

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
	if opts.MaxPerReview <= 0 {
		opts.MaxPerReview = DefaultMaxPerReview
	}
	if opts.MaxInFlight <= 0 {
		opts.MaxInFlight = DefaultMaxInFlight
	}
	if opts.NamespaceRate <= 0 {
		opts.NamespaceRate = DefaultNamespaceRate
	}
	if opts.NamespaceBurst <= 0 {
		opts.NamespaceBurst = DefaultNamespaceBurst
	}
	p := &Prober{
		opts:       opts,
		transport:  opts.Transport,
		cache:      newCache(MaxCacheEntries),
		slots:      newSlots(opts.PerRegistry),
		inFlight:   make(chan struct{}, opts.MaxInFlight),
		namespaces: newNamespaceRates(rate.Limit(opts.NamespaceRate), opts.NamespaceBurst),
	}
	if p.transport == nil {
		t, err := NewTransport(opts.CAFiles, opts.DenyNetworks)
		if err != nil {
			return nil, err
		}
		p.transport = t
	}
	p.transport = guard{p.transport}
	return p, nil
}

// MaxPerReview is how many probes one review may send.
func (p *Prober) MaxPerReview() int { return p.opts.MaxPerReview }

// AllowNamespace takes one probe of namespace's rate, reporting whether the namespace may
// send it now.
func (p *Prober) AllowNamespace(namespace string) bool { return p.namespaces.allow(namespace) }

// Cached returns the answer to a probe of img with cred while it is fresh in the cache: it
// costs no probe.
func (p *Prober) Cached(img registryauth.Image, cred *registryauth.Credential) (registryauth.Verdict, bool) {
	e, ok := p.cache.get(registryauth.ProbeKeyFor(img, cred))
	if !ok || !time.Now().Before(e.fresh) {
		return registryauth.Verdict{}, false
	}
	p.observeCache(true)
	return e.verdict, true
}

// Probe asks whether img's manifest can be pulled with cred (nil: anonymously). It returns
// when the answer is in or ctx ends (then the verdict is unavailable; the probe itself goes
// on for others waiting on it, up to Options.Timeout).
func (p *Prober) Probe(ctx context.Context, img registryauth.Image, cred *registryauth.Credential) registryauth.Verdict {
	key := registryauth.ProbeKeyFor(img, cred)
	now := time.Now()
	cached, have := p.cache.get(key)
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
		vd = unreachable(ctx.Err(), durationOf(ctx, now))
	}
	// A registry that cannot be reached does not undo a recent success.
	if vd.Status == registryauth.ProbeUnavailable && have && cached.verdict.Status == registryauth.ProbeOK && now.Before(cached.stale) {
		return cached.verdict
	}
	if !vd.Definite() && p.opts.Log != nil {
		p.opts.Log.Info("registry probe got no answer", "registry", img.Registry, "status", string(vd.Status), "detail", vd.Detail)
	}
	return vd
}

// ask sends one probe, waiting for a slot of the registry, and caches a definite answer.
func (p *Prober) ask(img registryauth.Image, cred *registryauth.Credential, key registryauth.ProbeKey) registryauth.Verdict {
	ctx, cancel := context.WithTimeout(context.Background(), p.opts.Timeout)
	defer cancel()
	start := time.Now()
	release, ok := p.slots.acquire(ctx, img.Registry)
	if !ok {
		return registryauth.Verdict{Status: registryauth.ProbeUnavailable, Reason: "too many probes to the registry in flight", Detail: "no slot of " + img.Registry + " within " + p.opts.Timeout.String()}
	}
	defer release()
	// Past the global cap a probe is not sent: waiting would hold a goroutine per
	// request, and the cap is there because there are too many of those.
	select {
	case p.inFlight <- struct{}{}:
		defer func() { <-p.inFlight }()
	default:
		return registryauth.Verdict{Status: registryauth.ProbeUnavailable, Reason: "pullguard is probing too many registries at once", Detail: "in-flight cap reached"}
	}
	vd := classify(p.askRegistry(ctx, img, cred), p.opts.Timeout.String())
	if cred != nil {
		vd.Detail = scrub(vd.Detail, *cred)
	}
	took := time.Since(start)
	if p.opts.Observer != nil {
		p.opts.Observer.ObserveProbe(vd.Status, took)
	}
	p.store(key, vd)
	return vd
}

// store caches a definite answer. Unavailable and skipped verdicts are not kept: the next
// review asks again (a skipped probe costs a name lookup and no connection).
func (p *Prober) store(key registryauth.ProbeKey, vd registryauth.Verdict) {
	if !vd.Definite() {
		return
	}
	now := time.Now()
	e := entry{verdict: vd, fresh: now.Add(p.opts.FailureTTL)}
	if vd.Status == registryauth.ProbeOK {
		e.fresh, e.stale = now.Add(p.opts.SuccessTTL), now.Add(p.opts.StaleTTL)
	}
	p.cache.add(key, e)
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
