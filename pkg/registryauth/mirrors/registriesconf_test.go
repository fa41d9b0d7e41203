package mirrors

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseRegistriesConf(t *testing.T) {
	tests := []struct {
		name string
		toml string
		want []Source
	}{
		{name: "empty file", toml: ``, want: []Source{}},
		{name: "other keys are ignored", toml: `
unqualified-search-registries = ["registry.access.redhat.com", "docker.io"]
short-name-mode = "enforcing"
credential-helpers = ["containers-auth.json"]
[aliases]
"fedora" = "registry.fedoraproject.org/fedora"
`, want: []Source{}},
		{name: "OpenShift's rendered entry", toml: `
unqualified-search-registries = ["registry.access.redhat.com", "docker.io"]
short-name-mode = ""

[[registry]]
  prefix = ""
  location = "registry.redhat.io/ubi9"
  blocked = true

  [[registry.mirror]]
    location = "mirror.corp:5000/ubi9"
    pull-from-mirror = "digest-only"

  [[registry.mirror]]
    location = "mirror.corp:5000/ubi9-tags"
    pull-from-mirror = "tag-only"
`, want: []Source{{Prefix: "registry.redhat.io/ubi9", Blocked: true, BlockedBy: OriginRegistriesConf, Mirrors: []Mirror{
			{Location: "mirror.corp:5000/ubi9", PullFrom: DigestOnly, Origin: OriginRegistriesConf},
			{Location: "mirror.corp:5000/ubi9-tags", PullFrom: TagOnly, Origin: OriginRegistriesConf},
		}}}},
		{name: "prefix and location", toml: `
[[registry]]
prefix = "example.com/foo"
location = "internal.example.com/bar/"
insecure = true
[[registry.mirror]]
location = "m.example.com/"
pull-from-mirror = "all"
insecure = true
`, want: []Source{{Prefix: "example.com/foo", Location: "internal.example.com/bar", Mirrors: []Mirror{{Location: "m.example.com", Origin: OriginRegistriesConf}}}}},
		{name: "mirror-by-digest-only", toml: `
[[registry]]
location = "example.com"
mirror-by-digest-only = true
[[registry.mirror]]
location = "m.example.com"
`, want: []Source{{Prefix: "example.com", Mirrors: []Mirror{{Location: "m.example.com", PullFrom: DigestOnly, Origin: OriginRegistriesConf}}}}},
		{name: "wildcard prefix without location", toml: `
[[registry]]
prefix = "*.example.com"
blocked = true
`, want: []Source{{Prefix: "*.example.com", Blocked: true, BlockedBy: OriginRegistriesConf}}},
		{name: "sorted by prefix, the first of a prefix wins", toml: `
[[registry]]
location = "b.example.com"
[[registry.mirror]]
location = "first.example.com"
[[registry]]
location = "a.example.com"
[[registry]]
location = "b.example.com"
[[registry.mirror]]
location = "second.example.com"
`, want: []Source{{Prefix: "a.example.com"}, {Prefix: "b.example.com", Mirrors: []Mirror{{Location: "first.example.com", Origin: OriginRegistriesConf}}}}},
		{name: "v1 blocked list", toml: `
[registries.search]
registries = ["docker.io"]
[registries.block]
registries = ["blocked.example.com"]
`, want: []Source{{Prefix: "blocked.example.com", Blocked: true, BlockedBy: OriginRegistriesConf}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseRegistriesConf([]byte(tt.toml))
			if err != nil {
				t.Fatalf("ParseRegistriesConf: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParseRegistriesConfErrors(t *testing.T) {
	tests := []struct {
		name, toml, want string
	}{
		{"syntax", "[[registry]\nlocation = 1", "registries.conf: line 2"},
		{"wrong type", "[[registry]]\nlocation = \"a.example.com\"\nblocked = \"yes\"", "registries.conf: line 3"},
		{"neither prefix nor location", "[[registry]]\nblocked = true", "neither prefix nor location"},
		{"prefix without location", "[[registry]]\nprefix = \"example.com/a\"", `prefix "example.com/a" has no location`},
		{"scheme in location", "[[registry]]\nlocation = \"https://example.com\"", "URL schemes are not allowed"},
		{"scheme in mirror", "[[registry]]\nlocation = \"example.com\"\n[[registry.mirror]]\nlocation = \"http://m.example.com\"", "mirror #1"},
		{"mirror without location", "[[registry]]\nlocation = \"example.com\"\n[[registry.mirror]]\ninsecure = true", "mirror #1 has no location"},
		{"bad pull-from-mirror", "[[registry]]\nlocation = \"example.com\"\n[[registry.mirror]]\nlocation = \"m.example.com\"\npull-from-mirror = \"digests\"", `pull-from-mirror "digests"`},
		{"pull-from-mirror on the registry", "[[registry]]\nlocation = \"example.com\"\npull-from-mirror = \"all\"", "belongs to a [[registry.mirror]]"},
		{"both digest settings", "[[registry]]\nlocation = \"example.com\"\nmirror-by-digest-only = true\n[[registry.mirror]]\nlocation = \"m.example.com\"\npull-from-mirror = \"tag-only\"", "one or the other"},
		{"bad wildcard", "[[registry]]\nprefix = \"*.example.com/team\"\nlocation = \"x.example.com\"", "wildcard prefix"},
		{"conflicting blocked", "[[registry]]\nprefix = \"example.com/a\"\nlocation = \"example.com\"\n[[registry]]\nprefix = \"example.com/b\"\nlocation = \"example.com\"\nblocked = true", "conflicting 'blocked'"},
		{"conflicting insecure", "[[registry]]\nlocation = \"example.com\"\n[[registry]]\nprefix = \"example.com/b\"\nlocation = \"example.com\"\ninsecure = true", "conflicting 'insecure'"},
		{"v1 mixed with v2", "[registries.block]\nregistries = [\"a.example.com\"]\n[[registry]]\nlocation = \"example.com\"", "mixes the v1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseRegistriesConf([]byte(tt.toml))
			if err == nil {
				t.Fatalf("no error; sources %+v", got)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}
