package state

import (
	"fmt"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/pullguard/pullguard/pkg/registryauth"
)

// secretAt is a dockerconfigjson Secret for registry at a resourceVersion. The password is
// obviously fake.
func secretAt(ns, name, version, registry string) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, ResourceVersion: version},
		Type:       corev1.SecretTypeDockerConfigJson,
		Data: map[string][]byte{corev1.DockerConfigJsonKey: fmt.Appendf(nil,
			`{"auths":{%q:{"username":"ci","password":"not-a-real-password-x"}}}`, registry)},
	}
}

// cachedNames lists a namespace's cached secrets with the registry each is for.
func cachedNames(s *secretStore, ns string) []string {
	x := s.index(ns)
	var out []string
	for _, reg := range []string{"a.example.com", "b.example.com", "c.example.com"} {
		img, _ := registryauth.ParseImage(reg + "/app")
		for _, name := range registryauth.SecretNames(x.Candidates(img)) {
			out = append(out, name+"@"+reg)
		}
	}
	slices.Sort(out)
	return out
}

func TestSink(t *testing.T) {
	type step struct {
		op      string // add, update, delete, tombstone, replace
		secrets []*corev1.Secret
		version string // of replace
	}
	tests := []struct {
		name  string
		steps []step
		want  []string
	}{
		{"add", []step{{op: "add", secrets: []*corev1.Secret{secretAt("ns", "s1", "10", "a.example.com")}}},
			[]string{"s1@a.example.com"}},
		{"update to a new registry", []step{
			{op: "add", secrets: []*corev1.Secret{secretAt("ns", "s1", "10", "a.example.com")}},
			{op: "update", secrets: []*corev1.Secret{secretAt("ns", "s1", "11", "b.example.com")}}},
			[]string{"s1@b.example.com"}},
		{"delete", []step{
			{op: "add", secrets: []*corev1.Secret{secretAt("ns", "s1", "10", "a.example.com"), secretAt("ns", "s2", "10", "b.example.com")}},
			{op: "delete", secrets: []*corev1.Secret{secretAt("ns", "s1", "12", "a.example.com")}}},
			[]string{"s2@b.example.com"}},
		{"delete with final state unknown", []step{
			{op: "add", secrets: []*corev1.Secret{secretAt("ns", "s1", "10", "a.example.com"), secretAt("ns", "s2", "10", "b.example.com")}},
			{op: "tombstone", secrets: []*corev1.Secret{secretAt("ns", "s2", "10", "b.example.com")}}},
			[]string{"s1@a.example.com"}},
		{"replace forgets what the list lacks and keeps the rest", []step{
			{op: "add", secrets: []*corev1.Secret{secretAt("ns", "s1", "10", "a.example.com"), secretAt("ns", "s2", "10", "b.example.com")}},
			{op: "replace", version: "20", secrets: []*corev1.Secret{secretAt("ns", "s2", "10", "b.example.com"), secretAt("ns", "s3", "19", "c.example.com")}}},
			[]string{"s2@b.example.com", "s3@c.example.com"}},
		{"replace of transformed objects (a streamed initial list)", []step{
			{op: "replace-transformed", version: "5", secrets: []*corev1.Secret{secretAt("ns", "s1", "4", "a.example.com"), secretAt("ns", "s3", "5", "c.example.com")}}},
			[]string{"s1@a.example.com", "s3@c.example.com"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := newSecretStore()
			sink := newSecretSink(store)
			for _, st := range tt.steps {
				var items []any
				for _, s := range st.secrets {
					var err error
					switch st.op {
					case "add":
						err = sink.Add(s)
					case "update":
						err = sink.Update(s)
					case "delete":
						err = sink.Delete(s)
					case "tombstone":
						err = sink.Delete(cache.DeletedFinalStateUnknown{Key: s.Namespace + "/" + s.Name, Obj: s})
					case "replace":
						items = append(items, s)
					case "replace-transformed":
						obj, terr := sink.Transformer()(s)
						if _, ok := obj.(*parsedSecret); !ok || terr != nil {
							t.Fatalf("transform gave %T, %v", obj, terr)
						}
						items = append(items, obj)
					}
					if err != nil {
						t.Fatal(err)
					}
				}
				if st.op == "replace" || st.op == "replace-transformed" {
					if err := sink.Replace(items, st.version); err != nil {
						t.Fatal(err)
					}
					if !sink.synced.Load() {
						t.Fatal("a replaced sink must be synced")
					}
				}
			}
			if got := cachedNames(store, "ns"); !slices.Equal(got, tt.want) {
				t.Fatalf("cached %q, want %q", got, tt.want)
			}
			if store.len() != len(tt.want) {
				t.Fatalf("count %d, want %d", store.len(), len(tt.want))
			}
		})
	}
}

// TestSinkParsesOncePerVersion: a secret delivered again at the same resourceVersion (a
// relist, a restarted watch) is not parsed again; a new version is.
func TestSinkParsesOncePerVersion(t *testing.T) {
	parses := 0
	parseSecret = func(name string, typ corev1.SecretType, data map[string][]byte) *registryauth.PullSecret {
		parses++
		return registryauth.ParseSecret(name, typ, data)
	}
	t.Cleanup(func() { parseSecret = registryauth.ParseSecret[corev1.SecretType] })
	store := newSecretStore()
	sink := newSecretSink(store)
	sink.Add(secretAt("ns", "s1", "10", "a.example.com"))
	first, _ := store.cached("ns", "s1")
	// Same version, different bytes: had it been parsed again, the registry would change.
	sink.Update(secretAt("ns", "s1", "10", "b.example.com"))
	obj, _ := sink.Transformer()(secretAt("ns", "s1", "10", "c.example.com"))
	sink.Replace([]any{obj}, "30")
	if again, _ := store.cached("ns", "s1"); again.secret != first.secret || parses != 1 {
		t.Fatalf("%d parses for one resourceVersion", parses)
	}
	sink.Update(secretAt("ns", "s1", "11", "b.example.com"))
	if got := cachedNames(store, "ns"); !slices.Equal(got, []string{"s1@b.example.com"}) {
		t.Fatalf("after a new version: %q", got)
	}
}

// TestRefreshStore: what a Refresh may write. It adds what the cache lacks and replaces an
// older version; it never replaces a newer version, and never brings back a secret the
// watch saw deleted at a later resourceVersion (its list may have started before the
// deletion), until the tombstone expires.
func TestRefreshStore(t *testing.T) {
	parse := func(reg string) func() cachedSecret {
		return func() cachedSecret {
			s := secretAt("ns", "s1", "", reg)
			return cachedSecret{secret: registryauth.ParseSecret("s1", s.Type, s.Data)}
		}
	}
	tests := []struct {
		name    string
		cached  string // version in the cache ("" none)
		deleted string // version of a deletion the watch saw ("" none)
		age     time.Duration
		listed  string // version the refresh read
		want    bool
	}{
		{"new secret", "", "", 0, "10", true},
		{"newer than cached", "10", "", 0, "11", true},
		{"same as cached", "10", "", 0, "10", false},
		{"older than cached", "12", "", 0, "11", false},
		{"deleted after the list was read", "", "12", 0, "10", false},
		{"deleted at the listed version", "", "12", 0, "12", false},
		{"re-created after the deletion", "", "12", 0, "13", true},
		{"tombstone expired", "", "12", tombstoneTTL + time.Second, "10", true},
		{"unparsable version never newer", "10", "", 0, "x", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := time.Unix(1000, 0)
			store := newSecretStore()
			store.now = func() time.Time { return now }
			if tt.cached != "" || tt.deleted != "" {
				store.put("ns", "s1", "9", parse("a.example.com")().secret, nil)
			}
			if tt.cached != "" {
				store.put("ns", "s1", tt.cached, parse("a.example.com")().secret, nil)
			}
			if tt.deleted != "" {
				store.remove("ns", "s1", tt.deleted)
			}
			now = now.Add(tt.age)
			if got := store.putIfNewer("ns", "s1", tt.listed, parse("b.example.com")); got != tt.want {
				t.Fatalf("putIfNewer = %v, want %v", got, tt.want)
			}
			want := []string{}
			switch {
			case tt.want:
				want = []string{"s1@b.example.com"}
			case tt.cached != "":
				want = []string{"s1@a.example.com"}
			}
			if got := cachedNames(store, "ns"); !slices.Equal(got, want) && len(got)+len(want) > 0 {
				t.Fatalf("cached %q, want %q", got, want)
			}
		})
	}
}

func TestRefreshGate(t *testing.T) {
	var g refreshGate
	now := time.Unix(1000, 0)
	if !g.allow("a", now) || g.allow("a", now.Add(refreshEvery/2)) {
		t.Fatal("a namespace must be listed at most once per refreshEvery")
	}
	if !g.allow("a", now.Add(refreshEvery)) || !g.allow("b", now) {
		t.Fatal("a namespace may be listed again after refreshEvery, and others meanwhile")
	}
	allowed := 0
	for i := range 10 * refreshBurst {
		if g.allow(fmt.Sprintf("n%d", i), now) {
			allowed++
		}
	}
	if allowed > refreshBurst {
		t.Fatalf("%d namespaces listed at once; the burst is %d", allowed, refreshBurst)
	}
}
