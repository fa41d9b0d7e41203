package probe_test

import (
	"context"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pullguard/pullguard/pkg/registryauth"
	"github.com/pullguard/pullguard/pkg/registryauth/probe"
	"github.com/pullguard/pullguard/test/harness"
)

func silent(t *testing.T, ips ...string) *harness.Silent {
	t.Helper()
	s, err := harness.ListenSilent(ips)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// TestDenyNetworks: a registry whose address is denied is never contacted, whether named by
// its address or by a name that resolves there, and the verdict says it was skipped (not
// cached: the next probe is skipped again, not answered from a cache).
func TestDenyNetworks(t *testing.T) {
	s := silent(t, "127.0.0.201", "127.0.0.202")
	denied, allowed := s.Hosts[0], s.Hosts[1]
	_, port, _ := net.SplitHostPort(denied)
	p, c := newProber(t, probe.Options{DenyNetworks: probe.MustParseNetworks("127.0.0.201/32, ::1/128")})
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	for _, ref := range []string{denied + "/acme/app:1", denied + "/acme/app:1", "[::1]:" + port + "/acme/app:1"} {
		vd := p.Probe(ctx, img(t, ref), nil)
		if vd.Status != registryauth.ProbeSkipped || vd.Reason != probe.ReasonDenied {
			t.Errorf("%s: verdict %+v, want skipped", ref, vd)
		}
	}
	if _, ok := p.Cached(img(t, denied+"/acme/app:1"), nil); ok {
		t.Error("a skipped verdict was cached")
	}
	if n := c.probes.Load(); n != 3 {
		t.Errorf("%d probes observed, want 3 (none answered from the cache)", n)
	}
	// The allowed one is contacted, so the count below could see a connection.
	if vd := p.Probe(ctx, img(t, allowed+"/acme/app:1"), nil); vd.Status != registryauth.ProbeUnavailable {
		t.Errorf("allowed: verdict %+v", vd)
	}
	if got := s.Connections(); !slices.Equal(got, []int{0, 1}) {
		t.Fatalf("connections per listener %v, want [0 1]: the denied one must never be contacted", got)
	}
}

// TestDenyNetworksResolvedName: the check is on the address a name resolves to, at dial
// time: "localhost" is as denied as 127.0.0.1.
func TestDenyNetworksResolvedName(t *testing.T) {
	s := silent(t, "127.0.0.1")
	_, port, _ := net.SplitHostPort(s.Hosts[0])
	p, _ := newProber(t, probe.Options{DenyNetworks: probe.MustParseNetworks(probe.DefaultDenyNetworks)})
	vd := p.Probe(context.Background(), img(t, "localhost:"+port+"/acme/app:1"), nil)
	if vd.Status != registryauth.ProbeSkipped {
		t.Fatalf("verdict %+v, want skipped", vd)
	}
	if got := s.Connections(); got[0] != 0 {
		t.Fatalf("%d connections to a denied address", got[0])
	}
}

func TestParseNetworks(t *testing.T) {
	tests := []struct {
		name, in string
		want     int
		err      bool
	}{
		{"default", probe.DefaultDenyNetworks, 5, false},
		{"empty denies nothing", "", 0, false},
		{"spaces", " 10.0.0.0/8 , fd00::/8 ", 2, false},
		{"not a CIDR", "10.0.0.1", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := probe.ParseNetworks(tt.in)
			if (err != nil) != tt.err || len(got) != tt.want || (err == nil && got == nil) {
				t.Fatalf("ParseNetworks(%q) = %v, %v", tt.in, got, err)
			}
		})
	}
}

// TestRegistrySlotsFreedWhenIdle: probes to many registry names leave no slots behind.
func TestRegistrySlotsFreedWhenIdle(t *testing.T) {
	p, _ := newProber(t, probe.Options{})
	var wg sync.WaitGroup
	for _, ip := range harness.LoopbackAddresses(3, 200) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Nothing listens on port 1: refused at once.
			p.Probe(context.Background(), img(t, ip+":1/acme/app:1"), nil)
		}()
	}
	wg.Wait()
	if n := p.SlotRegistries(); n != 0 {
		t.Fatalf("%d registries still hold slots after every probe ended", n)
	}
}

// TestInFlightCap: past the global cap, probes are not sent.
func TestInFlightCap(t *testing.T) {
	s := silent(t, harness.LoopbackAddresses(4, 5)...)
	p, c := newProber(t, probe.Options{MaxInFlight: 2, Timeout: 2 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	verdicts := make([]registryauth.Verdict, len(s.Hosts))
	var wg sync.WaitGroup
	for i, host := range s.Hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			verdicts[i] = p.Probe(ctx, img(t, host+"/acme/app:1"), nil)
		}()
	}
	wg.Wait()
	capped := 0
	for _, vd := range verdicts {
		if strings.Contains(vd.Reason, "too many registries at once") {
			capped++
		}
	}
	conns := 0
	for _, n := range s.Connections() {
		conns += n
	}
	t.Logf("5 probes with a cap of 2: %d connections, %d not sent, %d observed", conns, capped, c.probes.Load())
	if conns != 2 || capped != 3 {
		t.Fatalf("%d connections and %d probes not sent, want 2 and 3", conns, capped)
	}
}

func TestNamespaceRate(t *testing.T) {
	p, _ := newProber(t, probe.Options{NamespaceRate: 0.001, NamespaceBurst: 3})
	var got []bool
	for range 4 {
		got = append(got, p.AllowNamespace("greedy"))
	}
	got = append(got, p.AllowNamespace("other"))
	if want := []bool{true, true, true, false, true}; !slices.Equal(got, want) {
		t.Fatalf("allowed %v, want %v: a burst of 3 for greedy, other untouched", got, want)
	}
}
