package registryauth

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// sk is a test secret: a name and its registry keys.
type sk struct {
	name string
	keys []string
}

func secrets(t *testing.T, specs []sk) []*PullSecret {
	out := make([]*PullSecret, len(specs))
	for i, s := range specs {
		out[i] = secret(t, s.name, s.keys...)
	}
	return out
}

// matchList renders matches as "secret:key" in order.
func matchList(ms []Match) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Secret + ":" + m.RawKey
	}
	return out
}

// TestKeyringLookup checks the kubelet v1.37 matching table of SPEC section 3, row by row,
// and the ordering and fallback rules around it.
func TestKeyringLookup(t *testing.T) {
	tests := []struct {
		name    string
		image   string
		secrets []sk // in imagePullSecrets order
		want    []string
	}{
		// SPEC table, row 1.
		{"docker hub: https://index.docker.io/v1/ via fallback", "nginx", []sk{{"s", []string{"https://index.docker.io/v1/"}}}, []string{"s:https://index.docker.io/v1/"}},
		{"docker hub: docker.io", "nginx", []sk{{"s", []string{"docker.io"}}}, []string{"s:docker.io"}},
		{"docker hub: index.docker.io", "nginx", []sk{{"s", []string{"index.docker.io"}}}, []string{"s:index.docker.io"}},
		// Row 2.
		{"docker hub: registry-1.docker.io never matches", "nginx", []sk{{"s", []string{"registry-1.docker.io"}}}, nil},
		{"docker hub: index.docker.io/v1 without slash never matches", "nginx", []sk{{"s", []string{"index.docker.io/v1"}}}, nil},
		// Row 3.
		{"docker hub: docker.io/library path prefix", "nginx", []sk{{"s", []string{"docker.io/library"}}}, []string{"s:docker.io/library"}},
		{"docker hub: index.docker.io/library never matches", "nginx", []sk{{"s", []string{"index.docker.io/library"}}}, nil},
		// Row 4.
		{"path is a plain string prefix", "quay.io/organization/app", []sk{{"s", []string{"quay.io/org"}}}, []string{"s:quay.io/org"}},
		// Row 5.
		{"trailing slash key does not cover the repo itself", "quay.io/org", []sk{{"s", []string{"quay.io/org/"}}}, nil},
		// Row 6.
		{"star stays in one label: two labels", "a.b.example.com/x", []sk{{"s", []string{"*.example.com"}}}, nil},
		{"star stays in one label: zero labels", "example.com/x", []sk{{"s", []string{"*.example.com"}}}, nil},
		// Row 7.
		{"star star matches any two-label host", "ghcr.io/o/r", []sk{{"s", []string{"*.*"}}}, []string{"s:*.*"}},
		// Row 8.
		{"port must be equal: key without port", "reg.example.com:5000/x", []sk{{"s", []string{"reg.example.com"}}}, nil},
		{"port must be equal: glob with port", "reg.example.com:5000/x", []sk{{"s", []string{"*.example.com:5000"}}}, []string{"s:*.example.com:5000"}},
		// Row 9.
		{"case-sensitive host", "Reg.Example.com/x", []sk{{"s", []string{"reg.example.com"}}}, nil},
		// Row 10.
		{"reverse lexical key order", "reg.example.com/org/app",
			[]sk{{"s", []string{"reg.example.com", "*.example.com/org", "reg.example.com/org"}}},
			[]string{"s:reg.example.com/org", "s:reg.example.com", "s:*.example.com/org"}},

		// Ordering across secrets.
		{"same key: imagePullSecrets order, not name order", "quay.io/acme/app",
			[]sk{{"zeta", []string{"quay.io"}}, {"alpha", []string{"quay.io"}}},
			[]string{"zeta:quay.io", "alpha:quay.io"}},
		{"key order beats secret order", "quay.io/acme/app",
			[]sk{{"first", []string{"quay.io"}}, {"second", []string{"quay.io/acme"}}},
			[]string{"second:quay.io/acme", "first:quay.io"}},
		{"spellings of one key group together in secret order", "quay.io/acme/app",
			[]sk{{"a", []string{"https://quay.io"}}, {"b", []string{"quay.io/v2/"}}, {"c", []string{"quay.io"}}},
			[]string{"a:https://quay.io", "b:quay.io/v2/", "c:quay.io"}},

		// Docker Hub fallback.
		{"fallback only when nothing matched", "nginx",
			[]sk{{"a", []string{"docker.io"}}, {"b", []string{"https://index.docker.io/v1/"}}},
			[]string{"a:docker.io"}},
		{"fallback keeps secret order", "library/busybox",
			[]sk{{"b", []string{"https://index.docker.io/v1/"}}, {"a", []string{"index.docker.io"}}},
			[]string{"b:https://index.docker.io/v1/", "a:index.docker.io"}},
		{"fallback for user repos on docker hub", "bitnami/redis:7", []sk{{"s", []string{"https://index.docker.io/v1/"}}}, []string{"s:https://index.docker.io/v1/"}},
		{"fallback for explicit index.docker.io image", "index.docker.io/library/nginx", []sk{{"s", []string{"https://index.docker.io/v1/"}}}, []string{"s:https://index.docker.io/v1/"}},
		{"no fallback off docker hub", "quay.io/acme/app", []sk{{"s", []string{"https://index.docker.io/v1/"}}}, nil},

		// Key forms.
		{"http scheme kept and matched", "reg.example.com/x", []sk{{"s", []string{"http://reg.example.com"}}}, []string{"s:http://reg.example.com"}},
		{"leading /v1/ dropped", "reg.example.com/x", []sk{{"s", []string{"https://reg.example.com/v1/"}}}, []string{"s:https://reg.example.com/v1/"}},
		{"leading /v2/ dropped before a path", "reg.example.com/org/app", []sk{{"s", []string{"reg.example.com/v2/org"}}}, []string{"s:reg.example.com/v2/org"}},
		{"user info in the key is ignored", "reg.example.com/x", []sk{{"s", []string{"https://someone@reg.example.com"}}}, []string{"s:https://someone@reg.example.com"}},
		{"unparsable key skipped", "reg.example.com/x", []sk{{"s", []string{"https://[reg.example.com", "reg.example.com"}}}, []string{"s:reg.example.com"}},
		{"explicit port 443 is not the default", "reg.example.com/x", []sk{{"s", []string{"reg.example.com:443"}}}, nil},
		// Keys go through url.Parse first, so of the glob characters only '*' survives.
		{"question mark starts a URL query: the key is host reg", "reg1.example.com/x", []sk{{"s", []string{"reg?.example.com"}}}, nil},
		{"brackets are not a host: key ignored", "b.example.com/x", []sk{{"s", []string{"[ab].example.com"}}}, nil},
		{"star inside a label", "registry-eu.example.com/x", []sk{{"s", []string{"registry-*.example.com"}}}, []string{"s:registry-*.example.com"}},
		{"glob with a path", "eu.example.com/team/app", []sk{{"s", []string{"*.example.com/team"}}}, []string{"s:*.example.com/team"}},
		{"glob with a path that does not apply", "eu.example.com/other/app", []sk{{"s", []string{"*.example.com/team"}}}, nil},
		{"localhost with port", "localhost:5000/app", []sk{{"s", []string{"localhost:5000"}}}, []string{"s:localhost:5000"}},
		{"ipv6 registry", "[::1]:5000/app", []sk{{"s", []string{"[::1]:5000"}}}, []string{"s:[::1]:5000"}},
		{"digest reference matched by name", "quay.io/acme/app@sha256:" + strings.Repeat("a", 64), []sk{{"s", []string{"quay.io"}}}, []string{"s:quay.io"}},
		{"openshift internal registry", "image-registry.openshift-image-registry.svc:5000/team-a/app:1",
			[]sk{{"default-dockercfg-x7k2p", []string{"image-registry.openshift-image-registry.svc:5000", "172.30.1.1:5000"}}},
			[]string{"default-dockercfg-x7k2p:image-registry.openshift-image-registry.svc:5000"}},
		{"no secrets: anonymous", "quay.io/acme/app", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := NewKeyring(secrets(t, tt.secrets)...)
			got := matchList(k.Lookup(image(t, tt.image)))
			if !slices.Equal(got, tt.want) {
				t.Errorf("Lookup(%q) = %q, want %q", tt.image, got, tt.want)
			}
		})
	}
}

func TestLookupMarksFallback(t *testing.T) {
	k := NewKeyring(secret(t, "s", "https://index.docker.io/v1/"))
	ms := k.Lookup(image(t, "nginx"))
	if len(ms) != 1 || !ms[0].Fallback {
		t.Fatalf("want one fallback match, got %+v", ms)
	}
	k = NewKeyring(secret(t, "s", "docker.io"))
	if ms := k.Lookup(image(t, "nginx")); len(ms) != 1 || ms[0].Fallback {
		t.Fatalf("want one direct match, got %+v", ms)
	}
}

func TestKeyringSkipsMalformedSecrets(t *testing.T) {
	bad := ParseSecret("bad", "kubernetes.io/dockerconfigjson", map[string][]byte{".dockerconfigjson": []byte(`{"auths":{"quay.io":{"auth":"***"}}}`)})
	k := NewKeyring(bad, secret(t, "good", "quay.io"))
	if got := matchList(k.Lookup(image(t, "quay.io/a/b"))); !slices.Equal(got, []string{"good:quay.io"}) {
		t.Fatalf("got %q", got)
	}
}

func TestSecretIndexCandidates(t *testing.T) {
	x := NewSecretIndex([]*PullSecret{
		secret(t, "zz-hub", "https://index.docker.io/v1/"),
		secret(t, "b-quay", "quay.io"),
		secret(t, "a-quay", "quay.io"),
		secret(t, "c-quay-acme", "quay.io/acme"),
		secret(t, "hub-direct", "docker.io"),
	})
	tests := []struct {
		image string
		want  []string
	}{
		// Name order breaks ties under one key; the more specific key comes first.
		{"quay.io/acme/app", []string{"c-quay-acme", "a-quay", "b-quay"}},
		{"quay.io/other/app", []string{"a-quay", "b-quay"}},
		// A namespace secret usable only through the fallback is still a candidate, after
		// the direct ones: alone on a pod, the kubelet would use it.
		{"nginx", []string{"hub-direct", "zz-hub"}},
		{"ghcr.io/x/y", nil},
	}
	// Twice, and with another tag: the second answers come from the memo, and must be the
	// same (matching reads only the image's name).
	for _, tag := range []string{"", ":1.0", "@sha256:" + strings.Repeat("a", 64)} {
		for _, tt := range tests {
			got := SecretNames(x.Candidates(image(t, tt.image+tag)))
			if !slices.Equal(got, tt.want) {
				t.Errorf("Candidates(%q) = %q, want %q", tt.image+tag, got, tt.want)
			}
		}
	}
	if n := x.candidates.Len(); n != int64(len(tests)) {
		t.Errorf("%d image names memoized, want %d", n, len(tests))
	}
	if x.Len() != 5 {
		t.Errorf("Len = %d", x.Len())
	}
}

func TestPatterns(t *testing.T) {
	ps, err := ParsePatterns(" registry.redhat.io, *.example.com ,quay.io/acme,")
	if err != nil {
		t.Fatal(err)
	}
	for ref, want := range map[string]bool{
		"registry.redhat.io/ubi9/ubi": true,
		"eu.example.com/app":          true,
		"a.b.example.com/app":         false,
		"quay.io/acme/app":            true,
		"quay.io/other/app":           false,
		"nginx":                       false,
	} {
		if got := ps.Match(image(t, ref)); got != want {
			t.Errorf("Match(%q) = %v, want %v", ref, got, want)
		}
	}
	if _, err := ParsePatterns("[bad.example.com"); err == nil {
		t.Error("want an error for a malformed glob")
	}
	if _, err := ParsePatterns("https://[::1"); err == nil {
		t.Error("want an error for an unparsable pattern")
	}
}

// TestPathIndexAgreesWithScan checks that a host with many path-scoped keys (indexed by
// path) gives exactly what matching every key one by one gives, in the same order.
func TestPathIndexAgreesWithScan(t *testing.T) {
	var all []*PullSecret
	var keys []Key
	paths := []string{"", "/", "/a", "/ab", "/acme", "/acme/", "/acme/app", "/acme/app/x", "/team-1", "/team-10", "/team-1/app", "/v2x"}
	for i := range 40 {
		p := paths[i%len(paths)]
		if i >= len(paths) {
			p = fmt.Sprintf("/team-%d", i)
		}
		s := secret(t, fmt.Sprintf("s%02d", i), "quay.io"+p)
		all = append(all, s)
		keys = append(keys, s.Entries[0].Key)
	}
	k := NewKeyring(all...)
	if len(all) <= byPathThreshold || len(all) < mergeFrom {
		t.Fatal("the host's run should be long enough to be searched by path, in a merged index")
	}
	for _, ref := range []string{"quay.io/acme/app", "quay.io/acme/app/x/y", "quay.io/a", "quay.io/team-10/app", "quay.io/team-1/app", "quay.io/zzz", "quay.io/team-3"} {
		img := image(t, ref)
		var want []string
		for i, key := range keys {
			if key.Matches(img) {
				want = append(want, fmt.Sprintf("s%02d", i))
			}
		}
		slices.SortStableFunc(want, func(a, b string) int {
			ka, kb := keys[atoi(a[1:])].Name(), keys[atoi(b[1:])].Name()
			return strings.Compare(kb, ka)
		})
		if got := SecretNames(k.Lookup(img)); !slices.Equal(got, want) {
			t.Errorf("%s: indexed %q, scan %q", ref, got, want)
		}
	}
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}

func TestImageMemoReturnsTheParse(t *testing.T) {
	for range 2 {
		img := image(t, "quay.io/acme/memo:1")
		if img.Name != "quay.io/acme/memo" || img.Tag != "1" || img.labels != 2 {
			t.Fatalf("got %+v", img)
		}
	}
	if _, err := ParseImage("quay.io/Bad"); err == nil {
		t.Fatal("errors must not be memoized as images")
	}
}

// TestCandidatesMemoBounded: the memo of an index holds at most memoEntries image names and
// never a long list of matches, so a namespace of hostile secrets or images cannot grow it.
func TestCandidatesMemoBounded(t *testing.T) {
	var secrets []*PullSecret
	for i := range memoMatches + 1 {
		secrets = append(secrets, secret(t, fmt.Sprintf("quay-%02d", i), "quay.io"))
	}
	x := NewSecretIndex(secrets)
	if got := x.Candidates(image(t, "quay.io/acme/app")); len(got) != memoMatches+1 {
		t.Fatalf("%d candidates, want %d", len(got), memoMatches+1)
	}
	if n := x.candidates.Len(); n != 0 {
		t.Errorf("a list of %d matches was memoized", memoMatches+1)
	}
	y := NewSecretIndex([]*PullSecret{secret(t, "one", "quay.io")})
	for i := range 2 * memoEntries {
		if got := y.Candidates(image(t, fmt.Sprintf("quay.io/team-%d/app", i))); len(got) != 1 {
			t.Fatalf("image %d: %d candidates", i, len(got))
		}
		if n := y.candidates.Len(); n > memoEntries {
			t.Fatalf("%d image names memoized, over the bound %d", n, memoEntries)
		}
	}
	if n := y.candidates.Len(); n != memoEntries {
		t.Errorf("%d image names memoized, want the bound %d", n, memoEntries)
	}
}
