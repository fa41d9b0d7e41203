package registryauth

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"
)

// keyPool mixes the shapes the kubelet treats differently: exact hosts in two cases, ports,
// paths, globs, Docker Hub's spellings, the odd forms ParseKey stores apart, and keys that
// are not URLs.
var keyPool = []string{
	"quay.io", "Quay.io", "QUAY.IO", "quay.io/acme", "quay.io/acme/", "quay.io/Acme", "quay.io/acme/app", "https://quay.io",
	"http://quay.io/a", "quay.io/v2/acme", "quay.io/v1/", "quay.io:443", "quay.io:5000/acme",
	"reg.example.com", "reg.example.com:5000", "Reg.Example.com", "*.example.com", "*.example.com:5000", "*.*", "*.*.com",
	"a.*.com/x", "docker.io", "docker.io/library", "index.docker.io", "https://index.docker.io/v1/", "index.docker.io/v1",
	"index.docker.io/library", "registry-1.docker.io", "ghcr.io/o", "ghcr.io", "[::1]:5000", "[bad", "%zz", "quay.io/a%2Fb",
	"quay.io/a%3Fb", "localhost:5000/app", "localhost",
}

var imagePool = []string{
	"nginx", "docker.io/library/nginx:1", "bitnami/redis", "quay.io/acme/app:1", "quay.io/other/app", "quay.io/acme",
	"quay.io:5000/acme/app", "quay.io:443/acme/x", "reg.example.com/app", "reg.example.com:5000/app", "Reg.Example.com/app",
	"eu.example.com/app", "a.b.example.com/app", "eu.example.com:5000/x", "ghcr.io/o/r", "ghcr.io/x/y", "localhost:5000/app",
	"localhost/app", "[::1]:5000/x", "a.b.com/x/y",
}

func randomSecrets(t testing.TB, r *rand.Rand, n int) []*PullSecret {
	out := make([]*PullSecret, n)
	for i := range out {
		auths := map[string]map[string]string{}
		for range 1 + r.IntN(6) {
			auths[keyPool[r.IntN(len(keyPool))]] = map[string]string{"auth": testAuth()}
		}
		raw, _ := json.Marshal(map[string]any{"auths": auths})
		s := ParseSecret(fmt.Sprintf("s%02d", r.IntN(40)), TypeDockerConfigJSON, map[string][]byte{KeyDockerConfigJSON: raw})
		if s.Err != nil {
			t.Fatal(s.Err)
		}
		out[i] = s
	}
	return out
}

// scanLookup is the kubelet's lookup written the slow way: every key of every secret.
func scanLookup(secrets []*PullSecret, img Image) []string {
	type hit struct {
		s, e int
		name string
	}
	var hits, hub []hit
	for si, s := range secrets {
		for ei := range s.Entries {
			k := &s.Entries[ei].Key
			if k.Name() == "" {
				continue
			}
			if k.Matches(img) {
				hits = append(hits, hit{si, ei, k.Name()})
			}
			if k.Name() == dockerHubKey {
				hub = append(hub, hit{si, ei, k.Name()})
			}
		}
	}
	slices.SortStableFunc(hits, func(a, b hit) int { return strings.Compare(b.name, a.name) })
	if len(hits) == 0 && img.OnDockerHub() {
		hits = hub
	}
	var out []string
	for _, h := range hits {
		out = append(out, secrets[h.s].Name+":"+secrets[h.s].Entries[h.e].Key.Raw)
	}
	return out
}

// scanNearMisses explains near misses the slow way: every key name, worded from the first
// key holding it, with every secret holding it.
func scanNearMisses(secrets []*PullSecret, img Image) []string {
	type group struct {
		key     Key
		secrets []string
	}
	groups := map[string]*group{}
	var names []string
	for _, s := range secrets {
		for _, e := range s.Entries {
			name := e.Key.Name()
			if name == "" {
				continue
			}
			g, ok := groups[name]
			if !ok {
				g = &group{key: e.Key}
				groups[name] = g
				names = append(names, name)
			}
			if !slices.Contains(g.secrets, s.Name) {
				g.secrets = append(g.secrets, s.Name)
			}
		}
	}
	slices.Sort(names)
	var out []string
	for _, name := range names {
		if why := NearMiss(groups[name].key, img); why != "" {
			out = append(out, strings.Join(groups[name].secrets, ",")+": "+why)
		}
	}
	return out
}

// TestIndexedLookupAgreesWithScan compares the bisected lookups (each secret's own entries
// below mergeFrom secrets, a merged index from it on) with scanning every key, on random
// keyrings over the shapes that matter; near misses likewise.
func TestIndexedLookupAgreesWithScan(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for round := range 300 {
		secrets := randomSecrets(t, r, 1+r.IntN(2*mergeFrom))
		k := NewKeyring(secrets...)
		for _, ref := range imagePool {
			img := image(t, ref)
			if got, want := matchList(k.Lookup(img)), scanLookup(secrets, img); !slices.Equal(got, want) && len(got)+len(want) > 0 {
				t.Fatalf("round %d, %d secrets, %s:\nindexed %q\nscan    %q", round, len(secrets), ref, got, want)
			}
			var got []string
			for _, m := range k.NearMisses(context.Background(), img) {
				got = append(got, strings.Join(m.Secrets, ",")+": "+m.Why)
			}
			if want := scanNearMisses(secrets, img); !slices.Equal(got, want) {
				t.Fatalf("round %d, %d secrets, %s near misses:\nindexed %q\nscan    %q", round, len(secrets), ref, got, want)
			}
			for _, s := range secrets {
				scan := false
				for _, e := range s.Entries {
					scan = scan || e.Key.Matches(img) || NearMiss(e.Key, img) != ""
				}
				if s.MeantFor(context.Background(), img) != scan {
					t.Fatalf("round %d: MeantFor(%s, %s) = %v, scan says %v", round, s.Name, ref, !scan, scan)
				}
			}
		}
	}
}

// TestCompareFoldAgreesWithEqualFold: the matching order keeps strings that differ only in
// case together, including the runes outside ASCII that fold onto ASCII letters.
func TestCompareFoldAgreesWithEqualFold(t *testing.T) {
	words := []string{"quay.io", "QUAY.IO", "Quay.io", "quay.i", "quay.iO.", "\u212aey.io", "key.io", "KEY.IO", "\u017fe.io", "se.io", "\xff", "\xfe", "", "a"}
	for _, a := range words {
		for _, b := range words {
			if (compareFold(a, b) == 0) != strings.EqualFold(a, b) {
				t.Errorf("compareFold(%q, %q) = %d, EqualFold = %v", a, b, compareFold(a, b), strings.EqualFold(a, b))
			}
			if compareFold(a, b) != -compareFold(b, a) {
				t.Errorf("compareFold(%q, %q) is not antisymmetric", a, b)
			}
		}
	}
}

// TestCredentialHeldOncePerSecret: an OpenShift dockercfg secret repeats one token under
// every key (as password and inside auth); the parsed secret holds it once.
func TestCredentialHeldOncePerSecret(t *testing.T) {
	token := strings.Repeat("not-a-real-token-", 60)
	auth := testAuthOf("serviceaccount", token)
	cfg := map[string]map[string]string{}
	for _, key := range []string{"image-registry.openshift-image-registry.svc:5000", "image-registry.openshift-image-registry.svc.cluster.local:5000", "172.30.0.10:5000", "default-route-openshift-image-registry.apps.example.com"} {
		cfg[key] = map[string]string{"username": "serviceaccount", "password": token, "auth": auth, "email": "serviceaccount@example.org"}
	}
	cfg["other.example.com"] = map[string]string{"auth": testAuth()}
	raw, _ := json.Marshal(cfg)
	s := ParseSecret("builder-dockercfg-x", TypeDockercfg, map[string][]byte{KeyDockercfg: raw})
	if s.Err != nil || len(s.Entries) != 5 {
		t.Fatalf("got %d entries, %v", len(s.Entries), s.Err)
	}
	distinct := map[*Credential]bool{}
	for _, e := range s.Entries {
		distinct[e.Credential] = true
	}
	if len(distinct) != 2 {
		t.Fatalf("%d credentials held for 2 distinct ones", len(distinct))
	}
	k := NewKeyring(s)
	for _, ref := range []string{"image-registry.openshift-image-registry.svc:5000/p/app", "172.30.0.10:5000/p/app", "default-route-openshift-image-registry.apps.example.com/p/app"} {
		ms := k.Lookup(image(t, ref))
		if len(ms) != 1 || ms[0].Credential.Password() != token || ms[0].Credential.Username() != "serviceaccount" {
			t.Fatalf("%s: %d matches", ref, len(ms))
		}
	}
	if size := unsafe.Sizeof(Entry{}); size > 56 {
		t.Errorf("an entry takes %d bytes; a secret of 100k keys would hold %d MiB of them", size, 100_000*size>>20)
	}
}

func testAuthOf(user, pass string) string {
	raw, _ := json.Marshal([]byte(user + ":" + pass)) // base64, quoted
	return strings.Trim(string(raw), `"`)
}

// hostileSecret is a .dockerconfigjson of n short keys (the API server caps a secret at
// 1 MiB: 100,000 keys fit).
func hostileSecret(t testing.TB, name string, n int, key func(i int) string) (*PullSecret, int) {
	var b strings.Builder
	b.WriteString(`{"auths":{`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%q:{}", key(i))
	}
	b.WriteString(`}}`)
	s := ParseSecret(name, TypeDockerConfigJSON, map[string][]byte{KeyDockerConfigJSON: []byte(b.String())})
	if s.Err != nil {
		t.Fatal(s.Err)
	}
	return s, b.Len()
}

// TestHostileSecretBoundedWork: 100,000 keys of one host in a secret, and as many globs in
// another: lookups bisect, near-miss explanations stop at the budget. Times are printed,
// not asserted.
func TestHostileSecretBoundedWork(t *testing.T) {
	paths, size := hostileSecret(t, "paths", 100_000, func(i int) string { return fmt.Sprintf("quay.io/%x", i) })
	globs, _ := hostileSecret(t, "globs", 100_000, func(i int) string { return fmt.Sprintf("*.g%x", i) })
	t.Logf("each secret: %d KiB", size>>10)
	k := NewKeyring(paths, globs)
	img := image(t, "Quay.io/zzz/app:1")
	start := time.Now()
	misses := k.NearMisses(context.Background(), img)
	t.Logf("near misses over 200,000 keys: %s", time.Since(start))
	if len(misses) == 0 || len(misses) > NearMissBudget {
		t.Fatalf("%d near misses; want some, at most the budget %d", len(misses), NearMissBudget)
	}
	start = time.Now()
	if ms := k.Lookup(image(t, "quay.io/1f/app")); !slices.Equal(matchList(ms), []string{"paths:quay.io/1f", "paths:quay.io/1"}) {
		t.Fatalf("lookup: %+v", matchList(ms))
	}
	t.Logf("lookup: %s", time.Since(start))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if got := k.NearMisses(ctx, img); len(got) >= len(misses) {
		t.Fatalf("a cancelled review still explained %d near misses", len(got))
	}
}

// TestCandidatesOnePerSecret: 20,000 secrets under one key are 20,000 candidates, each
// once, in name order, found in linear time.
func TestCandidatesOnePerSecret(t *testing.T) {
	var all []*PullSecret
	for i := range 20_000 {
		all = append(all, secret(t, fmt.Sprintf("s%05d", i), "quay.io", "quay.io/acme"))
	}
	x := NewSecretIndex(all)
	start := time.Now()
	got := x.Candidates(image(t, "quay.io/acme/app"))
	t.Logf("candidates of 20,000 secrets: %s", time.Since(start))
	if len(got) != 20_000 || got[0].Secret != "s00000" || got[0].Key != "quay.io/acme" || got[19_999].Secret != "s19999" {
		t.Fatalf("%d candidates, first %+v", len(got), got[0])
	}
	if names := SecretNames(got); len(names) != 20_000 {
		t.Fatalf("%d names", len(names))
	}
}
