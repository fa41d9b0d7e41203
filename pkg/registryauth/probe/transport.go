package probe

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"time"

	"golang.org/x/net/http/httpproxy"
)

// Bounds on what a probe reads from a registry. A probe needs the status of one request
// and, on an error, the registry's JSON error: kilobytes. A hostile registry must not make
// pullguard read (or hold) more than that.
const (
	// MaxBody bounds any successful answer (ping, token, the rare manifest body read): 4 MiB
	// is the manifest size containerd and the distribution spec's registries accept, and no
	// token or ping comes near it. Past it the read fails.
	MaxBody = 4 << 20
	// MaxErrorBody bounds an error answer: the registry's error JSON needs a few hundred
	// bytes. Past it the body is cut short (not failed), so the status code still counts.
	MaxErrorBody = 16 << 10
	// maxResponseHeader bounds response headers (WWW-Authenticate, Docker-Content-Digest).
	maxResponseHeader = 64 << 10
)

// errBodyTooLarge ends a read past MaxBody.
var errBodyTooLarge = errors.New("the registry's answer is larger than 4 MiB")

// NewTransport returns an HTTP transport that honours HTTPS_PROXY and NO_PROXY, trusts the
// system roots plus the PEM bundles of caFiles, and never connects to an address in deny
// (checked on the resolved address at dial time). The proxy itself is exempt: it is the
// operator's choice, and it resolves the registry's name; a registry named by an IP
// literal is still checked before it is handed to the proxy.
func NewTransport(caFiles []string, deny []netip.Prefix) (*http.Transport, error) {
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
	denied := networks(deny)
	proxies := httpproxy.FromEnvironment()
	proxyFor := proxies.ProxyFunc()
	exempt := map[string]bool{}
	for _, p := range []string{proxies.HTTPSProxy, proxies.HTTPProxy} {
		if addr := proxyAddress(p); addr != "" {
			exempt[addr] = true
		}
	}
	plain := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	guarded := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second, Control: denied.control}

	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = func(req *http.Request) (*url.URL, error) {
		u, err := proxyFor(req.URL)
		if err != nil || u == nil {
			return u, err
		}
		if a, err := netip.ParseAddr(req.URL.Hostname()); err == nil && denied.denies(a) {
			return nil, &DeniedAddressError{Addr: a.Unmap().WithZone("")}
		}
		return u, nil
	}
	t.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if exempt[addr] {
			return plain.DialContext(ctx, network, addr)
		}
		return guarded.DialContext(ctx, network, addr)
	}
	t.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	t.MaxIdleConnsPerHost = 16
	t.MaxResponseHeaderBytes = maxResponseHeader
	return t, nil
}

// proxyAddress returns the host:port a transport dials for the proxy URL s ("" for none).
func proxyAddress(s string) string {
	if s == "" {
		return ""
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		// The transport reads "proxy:3128" as http://proxy:3128.
		if u, err = url.Parse("http://" + s); err != nil {
			return ""
		}
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"https": "443", "socks5": "1080"}[u.Scheme]
		if port == "" {
			port = "80"
		}
	}
	return net.JoinHostPort(u.Hostname(), port)
}

// errPlainHTTP refuses plain-HTTP requests. go-containerregistry falls back to HTTP for
// loopback and private addresses; containerd does not unless configured to, and a probe that
// silently spoke HTTP to an HTTPS registry would only report a confusing HTTP 400.
var errPlainHTTP = errors.New("plain HTTP is not used for probes")

// guard is the prober's outermost transport: HTTPS only, and every response body read
// through a limit.
type guard struct{ next http.RoundTripper }

func (g guard) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != "https" {
		return nil, errPlainHTTP
	}
	resp, err := g.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 400 {
		resp.Body = truncated{io.LimitReader(resp.Body, MaxErrorBody), resp.Body}
	} else {
		resp.Body = &capped{rc: resp.Body, left: MaxBody}
	}
	return resp, nil
}

// truncated reads an error body up to its limit, then reports the end.
type truncated struct {
	io.Reader
	io.Closer
}

// capped fails a read past its limit, so a body that is too large is an error rather than
// silently cut (and never read to its end).
type capped struct {
	rc   io.ReadCloser
	left int64
	err  error
}

func (c *capped) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	// Ask for one byte past the limit: getting it proves the body is too large.
	if int64(len(p)) > c.left+1 {
		p = p[:c.left+1]
	}
	n, err := c.rc.Read(p)
	if int64(n) <= c.left {
		c.left -= int64(n)
		if err != nil {
			c.err = err
		}
		return n, err
	}
	n, c.left, c.err = int(c.left), 0, errBodyTooLarge
	return n, c.err
}

func (c *capped) Close() error { return c.rc.Close() }

// isTooLarge reports whether err is a read past MaxBody.
func isTooLarge(err error) bool { return errors.Is(err, errBodyTooLarge) }
