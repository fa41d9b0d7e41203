package mirrors

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// fuzzImages are routed through every configuration a fuzzer produces: routing must
// never panic, whatever the configuration.
var fuzzImages = []string{"docker.io/library/nginx:1", "example.com/a/b@" + digest, "example.com:5000/a:1", "a.example.com/x/y/z:tag"}

func routeAll(t *testing.T, c *Config) {
	for _, ref := range fuzzImages {
		r := c.Route(parse(t, ref))
		if r.Err != nil && len(r.Endpoints) > 0 {
			t.Fatalf("%s: endpoints beside an error", ref)
		}
	}
}

func FuzzParseRegistriesConf(f *testing.F) {
	f.Add([]byte("[[registry]]\nlocation = \"example.com\"\nblocked = true\n[[registry.mirror]]\nlocation = \"m.example.com/a\"\npull-from-mirror = \"digest-only\"\n"))
	f.Add([]byte("[[registry]]\nprefix = \"*.example.com\"\n[[registry.mirror]]\nlocation = \"m\"\n"))
	f.Add([]byte("[registries.block]\nregistries = [\"example.com\"]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		sources, err := ParseRegistriesConf(data)
		if err != nil {
			if sources != nil {
				t.Fatal("sources beside an error")
			}
			return
		}
		for _, s := range sources {
			if s.Prefix == "" || strings.HasPrefix(s.Prefix, "http") && strings.Contains(s.Prefix, "://") {
				t.Fatalf("bad prefix %q", s.Prefix)
			}
			for _, m := range s.Mirrors {
				if m.Location == "" || m.Origin != OriginRegistriesConf {
					t.Fatalf("bad mirror %+v", m)
				}
			}
		}
		routeAll(t, New(CRIO, sources))
	})
}

func FuzzParseHostsToml(f *testing.F) {
	f.Add([]byte("server = \"https://registry-1.docker.io\"\n[host.\"https://m:5000\"]\ncapabilities = [\"pull\"]\n"))
	f.Add([]byte("[host.\"https://h.example.com/v2/ns\"]\noverride_path = true\n[host.\"https://h.example.com/v2/ns\".header]\nx = \"y\"\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, host := range []string{"example.com", DefaultHost} {
			s, err := ParseHostsToml(host, data)
			if err != nil {
				continue
			}
			if s.Prefix != host {
				t.Fatalf("prefix %q", s.Prefix)
			}
			routeAll(t, New(Containerd, []Source{s}))
		}
		// Through a directory: never an error without the sources containerd would use.
		sources, _ := ParseContainerdHosts(hostsDir(map[string]string{"example.com": string(data) + "\n"}))
		if len(sources) != 1 || sources[0].Prefix != "example.com" {
			t.Fatalf("sources %+v", sources)
		}
	})
}

func FuzzMirrorSets(f *testing.F) {
	f.Add([]byte(`[{"kind":"ImageDigestMirrorSet","metadata":{"name":"a"},"spec":{"imageDigestMirrors":[{"source":"example.com","mirrors":["m1.example.com","m2.example.com"],"mirrorSourcePolicy":"NeverContactSource"}]}},
{"kind":"ImageTagMirrorSet","metadata":{"name":"b"},"spec":{"imageTagMirrors":[{"source":"example.com","mirrors":["m2.example.com","m1.example.com","example.com"]}]}}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var sets []MirrorSet
		if json.Unmarshal(data, &sets) != nil {
			return
		}
		sources := FromMirrorSets(sets)
		_ = ValidateMirrorSets(sets)
		reversed := slices.Clone(sets)
		slices.Reverse(reversed)
		if a, b := mirrorsOf(sources), mirrorsOf(FromMirrorSets(reversed)); !slices.Equal(a, b) {
			t.Fatalf("depends on the order of the sets:\n%v\n%v", a, b)
		}
		routeAll(t, New(CRIO, sources))
	})
}
