package probe

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
)

// endless is a body that never ends.
type endless struct{}

func (endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'x'
	}
	return len(p), nil
}

func (endless) Close() error { return nil }

type answer struct{ status int }

func (a answer) RoundTrip(*http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: a.status, Body: endless{}}, nil
}

func TestBodyLimits(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		want    int64
		tooLong bool
	}{
		{"a success fails past MaxBody", http.StatusOK, MaxBody, true},
		{"an error is cut at MaxErrorBody", http.StatusNotFound, MaxErrorBody, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, "https://registry.example/v2/", nil)
			resp, err := guard{answer{tt.status}}.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			n, err := io.Copy(io.Discard, resp.Body)
			if n != tt.want || errors.Is(err, errBodyTooLarge) != tt.tooLong {
				t.Fatalf("read %d bytes, err %v; want %d bytes, too large %v", n, err, tt.want, tt.tooLong)
			}
		})
	}
}

func TestPlainHTTPRefused(t *testing.T) {
	req, _ := http.NewRequest(http.MethodGet, "http://registry.example/v2/", nil)
	if _, err := (guard{answer{200}}).RoundTrip(req); !errors.Is(err, errPlainHTTP) {
		t.Fatalf("err = %v", err)
	}
}

func TestClean(t *testing.T) {
	got := clean("x509: certificate is valid for evil\x1b[2J\r\n\u202e.example" + strings.Repeat("a", 1000))
	if strings.ContainsAny(got, "\x1b\r\n\u202e") || len(got) > maxDetail+len("…") {
		t.Fatalf("clean left %q", got)
	}
}

func TestCacheEvictsLeastRecentlyUsed(t *testing.T) {
	c := newCache(2)
	a, b, d := key("a"), key("b"), key("d")
	c.add(a, entry{})
	c.add(b, entry{})
	c.get(a) // a is now the most recently used
	c.add(d, entry{})
	if _, ok := c.get(b); ok {
		t.Error("the least recently used entry survived")
	}
	for _, k := range []string{"a", "d"} {
		if _, ok := c.get(key(k)); !ok {
			t.Errorf("entry %s was evicted", k)
		}
	}
}

func TestNetworksControl(t *testing.T) {
	deny := networks(MustParseNetworks(DefaultDenyNetworks))
	tests := []struct {
		name, address string
		denied        bool
	}{
		{"loopback", "127.0.0.1:443", true},
		{"another loopback", "127.9.8.7:5000", true},
		{"IPv4-mapped loopback", "[::ffff:127.0.0.1]:443", true},
		{"IPv6 loopback", "[::1]:443", true},
		{"cloud metadata", "169.254.169.254:80", true},
		{"link-local with a zone", "[fe80::1%eth0]:443", true},
		{"this network", "0.0.0.0:443", true},
		{"a public address", "192.0.2.10:443", false},
		{"a private address (not in the default)", "10.1.2.3:443", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := deny.control("tcp", tt.address, nil)
			var d *DeniedAddressError
			if errors.As(err, &d) != tt.denied || (!tt.denied && err != nil) {
				t.Fatalf("control(%s) = %v, want denied %v", tt.address, err, tt.denied)
			}
		})
	}
}
