package mirrors

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// TestTopologicalOrder: the order of openshift/runtime-utils' topoGraph.Sorted for the same
// graphs, whatever the order the edges come in. Each graph is two copies of one shape
// (upper and lower case).
func TestTopologicalOrder(t *testing.T) {
	tests := []struct {
		name  string
		edges []string
		want  string
	}{
		{"empty", nil, ""},
		{"shared from", []string{"AB", "AC", "AD", "ab", "ac", "ad"}, "AaBCDbcd"},
		{"shared to", []string{"AD", "BD", "CD", "ad", "bd", "cd"}, "ABCabcDd"},
		{"path", []string{"AB", "BC", "CD", "DE", "ab", "bc", "cd", "de"}, "AaBbCcDdEe"},
		{"complete loop", []string{"AB", "BC", "CD", "DA", "ab", "bc", "cd", "da"}, "ABCDabcd"},
		{"loop with extra input and output", []string{"AB", "BC", "CD", "DB", "DE", "ab", "bc", "cd", "db", "de"}, "AaBCDEbcde"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for offset := 0; offset == 0 || offset < len(tt.edges); offset++ {
				var edges [][2]string
				for i := range tt.edges {
					e := tt.edges[(offset+i)%len(tt.edges)]
					edges = append(edges, [2]string{e[:1], e[1:]})
				}
				if got := strings.Join(topologicalOrder(edges), ""); got != tt.want {
					t.Fatalf("edges from #%d: %q, want %q", offset, got, tt.want)
				}
			}
		})
	}
}

// mirrorsOf renders sources as "prefix[ blocked by X]: mirror(pullFrom, origin) ...".
func mirrorsOf(sources []Source) []string {
	var out []string
	for _, s := range sources {
		line := s.Prefix
		if s.Blocked {
			line += " blocked by " + s.BlockedBy
		}
		line += ":"
		for _, m := range s.Mirrors {
			pf := map[PullFrom]string{All: "all", DigestOnly: "digest", TagOnly: "tag"}[m.PullFrom]
			line += " " + m.Location + "(" + pf + ", " + m.Origin + ")"
		}
		out = append(out, line)
	}
	return out
}

func multi(kind, name string, entries ...ImageMirrors) MirrorSet {
	s := MirrorSet{Kind: kind, Metadata: MirrorSetMeta{Name: name}}
	switch kind {
	case KindImageDigestMirrorSet:
		s.Spec.ImageDigestMirrors = entries
	case KindImageTagMirrorSet:
		s.Spec.ImageTagMirrors = entries
	default:
		s.Spec.RepositoryDigestMirrors = entries
	}
	return s
}

func TestFromMirrorSets(t *testing.T) {
	D, T := KindImageDigestMirrorSet, KindImageTagMirrorSet
	tests := []struct {
		name string
		sets []MirrorSet
		want []string
	}{
		{name: "none", sets: nil, want: nil},
		{name: "no mirrors, or only the source, is no entry, and its policy is ignored", sets: []MirrorSet{
			multi(D, "a", ImageMirrors{Source: "a.example.com"}, ImageMirrors{Source: "b.example.com", Mirrors: []string{"b.example.com", "b.example.com"}, MirrorSourcePolicy: NeverContactSource}),
		}, want: nil},
		{name: "separate sources, sorted", sets: []MirrorSet{
			multi(D, "net", ImageMirrors{Source: "source.example.net", Mirrors: []string{"z1.example.net", "y2.example.net"}}),
			multi(D, "com", ImageMirrors{Source: "source.example.com", Mirrors: []string{"z1.example.com", "y2.example.com"}}),
		}, want: []string{
			"source.example.com: z1.example.com(digest, ImageDigestMirrorSet com) y2.example.com(digest, ImageDigestMirrorSet com)",
			"source.example.net: z1.example.net(digest, ImageDigestMirrorSet net) y2.example.net(digest, ImageDigestMirrorSet net)",
		}},
		{name: "a shared mirror orders the merge", sets: []MirrorSet{
			multi(D, "first", ImageMirrors{Source: "s.example.com", Mirrors: []string{"z1.example.com", "y2.example.com"}}),
			multi(D, "second", ImageMirrors{Source: "s.example.com", Mirrors: []string{"y2.example.com", "x3.example.com"}}),
		}, want: []string{"s.example.com: z1.example.com(digest, ImageDigestMirrorSet first) y2.example.com(digest, ImageDigestMirrorSet first) x3.example.com(digest, ImageDigestMirrorSet second)"}},
		{name: "the source among the mirrors stays where the order puts it", sets: []MirrorSet{
			multi(D, "a", ImageMirrors{Source: "s.example.com", Mirrors: []string{"z1.example.com", "s.example.com", "y2.example.com"}}),
			multi(D, "b", ImageMirrors{Source: "s.example.com", Mirrors: []string{"s.example.com", "y2.example.com", "x3.example.com"}}),
		}, want: []string{"s.example.com: z1.example.com(digest, ImageDigestMirrorSet a) s.example.com(digest, ImageDigestMirrorSet a) y2.example.com(digest, ImageDigestMirrorSet a) x3.example.com(digest, ImageDigestMirrorSet b)"}},
		{name: "vendor and admin sets disagreeing", sets: []MirrorSet{
			multi(D, "vendor", ImageMirrors{Source: "source.vendor.com", Mirrors: []string{"registry2.vendor.com"}}),
			multi(D, "vendor2", ImageMirrors{Source: "source.vendor2.com", Mirrors: []string{"registry1.vendor2.com", "registry2.vendor2.com"}}),
			multi(D, "admin", ImageMirrors{Source: "source.vendor.com", Mirrors: []string{"local-mirror.example.com"}},
				ImageMirrors{Source: "source.vendor2.com", Mirrors: []string{"local-mirror2.example.com", "registry2.vendor2.com", "registry1.vendor2.com"}}),
		}, want: []string{
			"source.vendor.com: local-mirror.example.com(digest, ImageDigestMirrorSet admin) registry2.vendor.com(digest, ImageDigestMirrorSet vendor)",
			"source.vendor2.com: local-mirror2.example.com(digest, ImageDigestMirrorSet admin) registry1.vendor2.com(digest, ImageDigestMirrorSet admin) registry2.vendor2.com(digest, ImageDigestMirrorSet admin)",
		}},
		{name: "ImageDigestMirrorSet and ImageContentSourcePolicy merge as digest mirrors", sets: []MirrorSet{
			multi(KindImageContentSourcePolicy, "legacy", ImageMirrors{Source: "s.example.com/ubi9", Mirrors: []string{"old.example.com/ubi9"}}),
			multi(D, "new", ImageMirrors{Source: "s.example.com/ubi9", Mirrors: []string{"new.example.com/ubi9", "old.example.com/ubi9"}}),
		}, want: []string{"s.example.com/ubi9: new.example.com/ubi9(digest, ImageDigestMirrorSet new) old.example.com/ubi9(digest, ImageDigestMirrorSet new)"}},
		{name: "one entry per source: digest mirrors, then tag mirrors", sets: []MirrorSet{
			multi(T, "tags", ImageMirrors{Source: "s.example.com/ubi9", Mirrors: []string{"m.example.com/tags"}}),
			multi(D, "digests", ImageMirrors{Source: "s.example.com/ubi9", Mirrors: []string{"m.example.com/digests"}}),
			multi(T, "only-tags", ImageMirrors{Source: "a.example.com", Mirrors: []string{"m.example.com/a"}}),
		}, want: []string{
			"s.example.com/ubi9: m.example.com/digests(digest, ImageDigestMirrorSet digests) m.example.com/tags(tag, ImageTagMirrorSet tags)",
			"a.example.com: m.example.com/a(tag, ImageTagMirrorSet only-tags)",
		}},
		{name: "NeverContactSource blocks the source", sets: []MirrorSet{
			multi(D, "allow", ImageMirrors{Source: "s.example.com", Mirrors: []string{"m1.example.com"}}),
			multi(D, "never", ImageMirrors{Source: "s.example.com", Mirrors: []string{"m2.example.com"}, MirrorSourcePolicy: NeverContactSource}),
		}, want: []string{"s.example.com blocked by ImageDigestMirrorSet never: m1.example.com(digest, ImageDigestMirrorSet allow) m2.example.com(digest, ImageDigestMirrorSet never)"}},
		{name: "an ImageTagMirrorSet's NeverContactSource blocks digests too", sets: []MirrorSet{
			multi(T, "never", ImageMirrors{Source: "s.example.com", Mirrors: []string{"m.example.com"}, MirrorSourcePolicy: NeverContactSource}),
		}, want: []string{"s.example.com blocked by ImageTagMirrorSet never: m.example.com(tag, ImageTagMirrorSet never)"}},
		{name: "ImageContentSourcePolicy has no policy", sets: []MirrorSet{
			multi(KindImageContentSourcePolicy, "legacy", ImageMirrors{Source: "s.example.com", Mirrors: []string{"m.example.com"}, MirrorSourcePolicy: NeverContactSource}),
		}, want: []string{"s.example.com: m.example.com(digest, ImageContentSourcePolicy legacy)"}},
		{name: "nested sources stay separate", sets: []MirrorSet{
			multi(D, "parent", ImageMirrors{Source: "s.example.com", Mirrors: []string{"m.example.com/all"}}),
			multi(D, "child", ImageMirrors{Source: "s.example.com/team", Mirrors: []string{"m.example.com/team"}}),
		}, want: []string{
			"s.example.com: m.example.com/all(digest, ImageDigestMirrorSet parent)",
			"s.example.com/team: m.example.com/team(digest, ImageDigestMirrorSet child)",
		}},
		{name: "another kind is ignored", sets: []MirrorSet{
			multi("ConfigMap", "x", ImageMirrors{Source: "s.example.com", Mirrors: []string{"m.example.com"}}),
		}, want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := mirrorsOf(FromMirrorSets(tt.sets))
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			reversed := slices.Clone(tt.sets)
			slices.Reverse(reversed)
			if again := mirrorsOf(FromMirrorSets(reversed)); !reflect.DeepEqual(again, got) {
				t.Fatalf("depends on the order of the sets:\n%s", strings.Join(again, "\n"))
			}
		})
	}
}

func TestValidateMirrorSets(t *testing.T) {
	D := KindImageDigestMirrorSet
	tests := []struct {
		name string
		sets []MirrorSet
		want []string // substrings, one per fault; none for a valid configuration
	}{
		{name: "valid", sets: []MirrorSet{
			multi(D, "a", ImageMirrors{Source: "registry.redhat.io/ubi9", Mirrors: []string{"mirror.corp:5000/ubi9"}, MirrorSourcePolicy: NeverContactSource}),
			multi(KindImageTagMirrorSet, "b", ImageMirrors{Source: "*.example.com", Mirrors: []string{"m.example.com/any"}}),
			multi(KindImageContentSourcePolicy, "c", ImageMirrors{Source: "quay.io/team", Mirrors: []string{"m.example.com/team"}}),
		}},
		{name: "bad source and mirror", sets: []MirrorSet{
			multi(D, "a", ImageMirrors{Source: "https://registry.redhat.io", Mirrors: []string{"mirror.corp/UPPER"}}),
		}, want: []string{`ImageDigestMirrorSet a: invalid source "https://registry.redhat.io"`, `invalid mirror "mirror.corp/UPPER"`}},
		{name: "conflicting policies", sets: []MirrorSet{
			multi(D, "never", ImageMirrors{Source: "s.example.com", Mirrors: []string{"m.example.com"}, MirrorSourcePolicy: NeverContactSource}),
			multi(KindImageContentSourcePolicy, "legacy", ImageMirrors{Source: "s.example.com", Mirrors: []string{"m2.example.com"}}),
		}, want: []string{`ImageContentSourcePolicy legacy: mirrorSourcePolicy AllowContactingSource for source "s.example.com", but ImageDigestMirrorSet never sets NeverContactSource`}},
		{name: "never contact a source listed as its own mirror", sets: []MirrorSet{
			multi(D, "self", ImageMirrors{Source: "s.example.com", Mirrors: []string{"s.example.com"}, MirrorSourcePolicy: NeverContactSource}),
		}, want: []string{"one of its own mirrors"}},
		{name: "not a mirror set", sets: []MirrorSet{multi("ConfigMap", "x")}, want: []string{"not a mirror set kind"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateMirrorSets(tt.sets)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("ValidateMirrorSets: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if tt.sets[0].Kind != "ConfigMap" && !errors.Is(err, ErrRefusedByMCO) {
				t.Errorf("not ErrRefusedByMCO: %v", err)
			}
		})
	}
}

// TestMirrorSetJSON decodes the API objects as the API server serves them.
func TestMirrorSetJSON(t *testing.T) {
	objects := `[
{"apiVersion":"config.openshift.io/v1","kind":"ImageDigestMirrorSet","metadata":{"name":"ubi-mirror","uid":"1","annotations":{"x":"y"}},
 "spec":{"imageDigestMirrors":[{"source":"registry.redhat.io/ubi9","mirrors":["mirror.corp:5000/ubi9"],"mirrorSourcePolicy":"NeverContactSource"}]},"status":{}},
{"apiVersion":"config.openshift.io/v1","kind":"ImageTagMirrorSet","metadata":{"name":"tags"},
 "spec":{"imageTagMirrors":[{"source":"registry.redhat.io/ubi9","mirrors":["mirror.corp:5000/ubi9-tags"],"mirrorSourcePolicy":"NeverContactSource"}]}},
{"apiVersion":"operator.openshift.io/v1alpha1","kind":"ImageContentSourcePolicy","metadata":{"name":"legacy"},
 "spec":{"repositoryDigestMirrors":[{"source":"quay.io/openshift-release-dev/ocp-release","mirrors":["mirror.corp:5000/ocp/release"]}]}}
]`
	var sets []MirrorSet
	if err := json.Unmarshal([]byte(objects), &sets); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"registry.redhat.io/ubi9 blocked by ImageDigestMirrorSet ubi-mirror: mirror.corp:5000/ubi9(digest, ImageDigestMirrorSet ubi-mirror) mirror.corp:5000/ubi9-tags(tag, ImageTagMirrorSet tags)",
		"quay.io/openshift-release-dev/ocp-release: mirror.corp:5000/ocp/release(digest, ImageContentSourcePolicy legacy)",
	}
	slices.Sort(want)
	got := mirrorsOf(FromMirrorSets(sets))
	slices.Sort(got)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if err := ValidateMirrorSets(sets); err != nil {
		t.Fatalf("ValidateMirrorSets: %v", err)
	}
}
