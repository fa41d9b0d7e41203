package mirrors

import (
	"strings"
	"testing"

	"github.com/pullguard/pullguard/pkg/registryauth"
)

const (
	digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	S      = "source.example.com"
	M      = "mirror.example.com:5000"
)

func parse(t testing.TB, ref string) registryauth.Image {
	t.Helper()
	img, err := registryauth.ParseImage(ref)
	if err != nil {
		t.Fatalf("ParseImage(%q): %v", ref, err)
	}
	return img
}

// describe renders a route as "reference credential" per endpoint, the credential
// "kubelet" or "node" (the node's auth file), and "location: reason" per skip.
func describe(r Route) (endpoints, skipped []string) {
	for _, e := range r.Endpoints {
		cred := "node"
		if e.KubeletCredential {
			cred = "kubelet"
		}
		endpoints = append(endpoints, e.Image.FullReference()+" "+cred)
	}
	for _, s := range r.Skipped {
		skipped = append(skipped, s.Mirror.Location+": "+s.Reason)
	}
	return endpoints, skipped
}

func idms(name, source string, policy MirrorSourcePolicy, mirrors ...string) MirrorSet {
	return MirrorSet{APIVersion: "config.openshift.io/v1", Kind: KindImageDigestMirrorSet, Metadata: MirrorSetMeta{Name: name},
		Spec: MirrorSetSpec{ImageDigestMirrors: []ImageMirrors{{Source: source, Mirrors: mirrors, MirrorSourcePolicy: policy}}}}
}

func itms(name, source string, policy MirrorSourcePolicy, mirrors ...string) MirrorSet {
	return MirrorSet{APIVersion: "config.openshift.io/v1", Kind: KindImageTagMirrorSet, Metadata: MirrorSetMeta{Name: name},
		Spec: MirrorSetSpec{ImageTagMirrors: []ImageMirrors{{Source: source, Mirrors: mirrors, MirrorSourcePolicy: policy}}}}
}

func icsp(name, source string, mirrors ...string) MirrorSet {
	return MirrorSet{APIVersion: "operator.openshift.io/v1alpha1", Kind: KindImageContentSourcePolicy, Metadata: MirrorSetMeta{Name: name},
		Spec: MirrorSetSpec{RepositoryDigestMirrors: []ImageMirrors{{Source: source, Mirrors: mirrors}}}}
}

func crio(sets ...MirrorSet) *Config { return New(CRIO, FromMirrorSets(sets)) }

func conf(t testing.TB, toml string) *Config {
	t.Helper()
	sources, err := ParseRegistriesConf([]byte(toml))
	if err != nil {
		t.Fatalf("ParseRegistriesConf: %v", err)
	}
	return New(CRIO, sources)
}

// TestRoute checks each fact of issue 16's "Facts to model" and containers/image's and
// containerd's rules around them, one named case each.
func TestRoute(t *testing.T) {
	tests := []struct {
		name    string
		config  *Config
		image   string
		want    []string
		skipped []string
		err     string // a substring of Route.Err
	}{
		// No configuration: the image itself, with the kubelet's credential.
		{name: "nil config", config: nil, image: "nginx:1.27", want: []string{"docker.io/library/nginx:1.27 kubelet"}},
		{name: "empty config", config: &Config{Runtime: CRIO}, image: S + "/a:1", want: []string{S + "/a:1 kubelet"}},
		{name: "no source matches", config: crio(idms("x", S+"/team", "", M+"/team")), image: S + "/other/app@" + digest,
			want: []string{S + "/other/app@" + digest + " kubelet"}},

		// ImageDigestMirrorSet: digest-only mirrors, tried in order, then the source.
		{name: "IDMS digest goes to the mirror then the source", config: crio(idms("ubi", S+"/ubi9", "", M+"/ubi9")), image: S + "/ubi9/ubi@" + digest,
			want: []string{M + "/ubi9/ubi@" + digest + " node", S + "/ubi9/ubi@" + digest + " kubelet"}},
		{name: "IDMS tag skips the mirror", config: crio(idms("ubi", S+"/ubi9", "", M+"/ubi9")), image: S + "/ubi9/ubi:9.4",
			want: []string{S + "/ubi9/ubi:9.4 kubelet"}, skipped: []string{M + "/ubi9: " + ReasonDigestsOnly}},
		{name: "IDMS mirrors in order", config: crio(idms("ubi", S+"/ubi9", "", M+"/a", "other.example.com/b", S+"/ubi9-copy")), image: S + "/ubi9/ubi@" + digest,
			want: []string{M + "/a/ubi@" + digest + " node", "other.example.com/b/ubi@" + digest + " node", S + "/ubi9-copy/ubi@" + digest + " kubelet", S + "/ubi9/ubi@" + digest + " kubelet"}},
		{name: "tag and digest together count as a digest; CRI-O drops the tag", config: crio(idms("ubi", S+"/ubi9", "", M+"/ubi9")), image: S + "/ubi9/ubi:9.4@" + digest,
			want: []string{M + "/ubi9/ubi@" + digest + " node", S + "/ubi9/ubi:9.4@" + digest + " kubelet"}},

		// ImageTagMirrorSet: tag-only mirrors.
		{name: "ITMS tag goes to the mirror", config: crio(itms("t", S+"/ubi9", "", M+"/ubi9")), image: S + "/ubi9/ubi:9.4",
			want: []string{M + "/ubi9/ubi:9.4 node", S + "/ubi9/ubi:9.4 kubelet"}},
		{name: "ITMS digest skips the mirror", config: crio(itms("t", S+"/ubi9", "", M+"/ubi9")), image: S + "/ubi9/ubi@" + digest,
			want: []string{S + "/ubi9/ubi@" + digest + " kubelet"}, skipped: []string{M + "/ubi9: " + ReasonTagsOnly}},
		{name: "an untagged reference is the latest tag", config: crio(itms("t", S+"/ubi9", "", M+"/ubi9")), image: S + "/ubi9/ubi",
			want: []string{M + "/ubi9/ubi:latest node", S + "/ubi9/ubi:latest kubelet"}},

		// ImageContentSourcePolicy: digest only, never blocks.
		{name: "ICSP digest goes to the mirror", config: crio(icsp("legacy", S+"/ubi9", M+"/ubi9")), image: S + "/ubi9/ubi@" + digest,
			want: []string{M + "/ubi9/ubi@" + digest + " node", S + "/ubi9/ubi@" + digest + " kubelet"}},
		{name: "ICSP tag skips the mirror", config: crio(icsp("legacy", S+"/ubi9", M+"/ubi9")), image: S + "/ubi9/ubi:9.4",
			want: []string{S + "/ubi9/ubi:9.4 kubelet"}, skipped: []string{M + "/ubi9: " + ReasonDigestsOnly}},

		// NeverContactSource blocks the source; its mirrors are still tried.
		{name: "NeverContactSource digest: the mirror only", config: crio(idms("ubi", S+"/ubi9", NeverContactSource, M+"/ubi9")), image: S + "/ubi9/ubi@" + digest,
			want: []string{M + "/ubi9/ubi@" + digest + " node"}},
		{name: "NeverContactSource tag through a digest-only set: nowhere", config: crio(idms("ubi", S+"/ubi9", NeverContactSource, M+"/ubi9")), image: S + "/ubi9/ubi:9.4",
			want: nil, skipped: []string{M + "/ubi9: " + ReasonDigestsOnly}},
		{name: "NeverContactSource on an ITMS blocks digests too", config: crio(itms("t", S+"/ubi9", NeverContactSource, M+"/ubi9")), image: S + "/ubi9/ubi@" + digest,
			want: nil, skipped: []string{M + "/ubi9: " + ReasonTagsOnly}},
		{name: "a blocked registries.conf source with mirrors still uses them", config: conf(t, `
[[registry]]
location = "`+S+`"
blocked = true
[[registry.mirror]]
location = "`+M+`/s"
`), image: S + "/team/app:1", want: []string{M + "/s/team/app:1 node"}},
		{name: "a mirror under a blocked prefix is not contacted", config: conf(t, `
[[registry]]
location = "`+S+`"
[[registry.mirror]]
location = "`+M+`/s"
[[registry]]
location = "`+M+`"
blocked = true
`), image: S + "/team/app:1", want: []string{S + "/team/app:1 kubelet"}, skipped: []string{M + "/s: its location is blocked under " + M + " by registries.conf"}},
		{name: "a mirror's own prefix entry decides, not the source's", config: conf(t, `
[[registry]]
location = "`+S+`"
[[registry.mirror]]
location = "`+M+`/s"
[[registry]]
location = "`+M+`"
blocked = true
[[registry]]
location = "`+M+`/s"
`), image: S + "/team/app:1", want: []string{M + "/s/team/app:1 node", S + "/team/app:1 kubelet"}},

		// As skopeo 1.9.3 (Debian) logs it with this registries.conf: "Trying to access"
		// the first mirror, then the blocked mirror and the source, both refused as blocked.
		{name: "blocked source and a blocked mirror, as skopeo tries them", config: conf(t, `
[[registry]]
location = "127.0.0.1:1"
blocked = true
[[registry.mirror]]
location = "127.0.0.2:1/m"
[[registry.mirror]]
location = "127.0.0.3:1/blockedmirror"
[[registry]]
location = "127.0.0.3:1"
blocked = true
`), image: "127.0.0.1:1/team/app:1", want: []string{"127.0.0.2:1/m/team/app:1 node"}, skipped: []string{"127.0.0.3:1/blockedmirror: its location is blocked under 127.0.0.3:1 by registries.conf"}},

		// The most specific source prefix wins; its mirrors are not merged with a parent's.
		{name: "most specific prefix wins", config: crio(idms("parent", S, "", M+"/parent"), idms("child", S+"/ubi9", "", M+"/child")), image: S + "/ubi9/ubi@" + digest,
			want: []string{M + "/child/ubi@" + digest + " node", S + "/ubi9/ubi@" + digest + " kubelet"}},
		{name: "parent applies beside the child", config: crio(idms("parent", S, "", M+"/parent"), idms("child", S+"/ubi9", "", M+"/child")), image: S + "/ubi8/ubi@" + digest,
			want: []string{M + "/parent/ubi8/ubi@" + digest + " node", S + "/ubi8/ubi@" + digest + " kubelet"}},
		{name: "a tag-only child hides the parent's digest mirrors", config: crio(idms("parent", S, "", M+"/parent"), itms("child", S+"/ubi9", "", M+"/child")), image: S + "/ubi9/ubi@" + digest,
			want: []string{S + "/ubi9/ubi@" + digest + " kubelet"}, skipped: []string{M + "/child: " + ReasonTagsOnly}},
		{name: "an unblocked child of a blocked parent reaches its source", config: crio(idms("parent", S, NeverContactSource, M+"/parent"), idms("child", S+"/ubi9", "", M+"/child")), image: S + "/ubi9/ubi:9.4",
			want: []string{S + "/ubi9/ubi:9.4 kubelet"}, skipped: []string{M + "/child: " + ReasonDigestsOnly}},
		{name: "prefixes match whole path components", config: crio(idms("team", S+"/team", "", M+"/team")), image: S + "/team2/app@" + digest,
			want: []string{S + "/team2/app@" + digest + " kubelet"}},
		{name: "a prefix may be the whole repository", config: crio(idms("repo", S+"/team/app", "", M+"/copy")), image: S + "/team/app@" + digest,
			want: []string{M + "/copy@" + digest + " node", S + "/team/app@" + digest + " kubelet"}},
		{name: "a host prefix also matches the host with a port (containers/image quirk)", config: conf(t, `
[[registry]]
location = "`+S+`"
[[registry.mirror]]
location = "mirror.example.com"
`), image: S + ":5000/team/app:1", want: []string{"mirror.example.com:5000/team/app:1 node", S + ":5000/team/app:1 kubelet"}},
		{name: "Docker Hub names are normalized before matching", config: crio(itms("hub", "docker.io/library", "", M+"/hub")), image: "nginx:1.27",
			want: []string{M + "/hub/nginx:1.27 node", "docker.io/library/nginx:1.27 kubelet"}},
		{name: "wildcard prefix matches a subdomain", config: conf(t, `
[[registry]]
prefix = "*.example.org"
[[registry.mirror]]
location = "`+M+`/any"
`), image: "a.b.example.org/team/app:1", want: []string{M + "/any/team/app:1 node", "a.b.example.org/team/app:1 kubelet"}},
		{name: "wildcard prefix does not match the domain itself", config: conf(t, `
[[registry]]
prefix = "*.example.org"
[[registry.mirror]]
location = "`+M+`/any"
`), image: "example.org/team/app:1", want: []string{"example.org/team/app:1 kubelet"}},
		{name: "a source location rewrites the source", config: conf(t, `
[[registry]]
prefix = "`+S+`/team"
location = "internal.example.com/copy"
`), image: S + "/team/app:1", want: []string{"internal.example.com/copy/app:1 node"}},
		{name: "mirror-by-digest-only makes every mirror digest-only", config: conf(t, `
[[registry]]
location = "`+S+`"
mirror-by-digest-only = true
[[registry.mirror]]
location = "`+M+`"
`), image: S + "/a:1", want: []string{S + "/a:1 kubelet"}, skipped: []string{M + ": " + ReasonDigestsOnly}},

		// CRI-O credentials: the kubelet's only on the source's host:port.
		{name: "a mirror on the source's host gets the kubelet's credential", config: crio(idms("same", S+"/ubi9", "", S+"/mirror/ubi9")), image: S + "/ubi9/ubi@" + digest,
			want: []string{S + "/mirror/ubi9/ubi@" + digest + " kubelet", S + "/ubi9/ubi@" + digest + " kubelet"}},
		{name: "same host, another port is another host", config: crio(idms("port", "127.0.0.1:5000/ubi9", "", "127.0.0.1:5001/ubi9")), image: "127.0.0.1:5000/ubi9/ubi@" + digest,
			want: []string{"127.0.0.1:5001/ubi9/ubi@" + digest + " node", "127.0.0.1:5000/ubi9/ubi@" + digest + " kubelet"}},
		{name: "a host without the source's port is another host", config: crio(idms("port", "127.0.0.1:5000/ubi9", "", "127.0.0.1/ubi9")), image: "127.0.0.1:5000/ubi9/ubi@" + digest,
			want: []string{"127.0.0.1/ubi9/ubi@" + digest + " node", "127.0.0.1:5000/ubi9/ubi@" + digest + " kubelet"}},

		// A rewritten reference containers/image cannot parse fails the whole pull.
		{name: "a non-canonical mirror fails the pull", config: conf(t, `
[[registry]]
location = "`+S+`"
[[registry.mirror]]
location = "mirror"
`), image: S + "/a:1", err: "not a canonical reference"},
		{name: "an upper-case mirror path fails the pull", config: crio(idms("x", S, "", M+"/Upper")), image: S + "/a@" + digest, err: "mirror " + M + "/Upper"},

		// containerd: by registry host, every host gets the kubelet's credential.
		{name: "containerd sends the kubelet's credential to a mirror", config: containerd(t, map[string]string{S: `
[host."https://` + M + `"]
`}), image: S + "/team/app:1", want: []string{M + "/team/app:1 kubelet", S + "/team/app:1 kubelet"}},
		{name: "containerd pull without resolve serves digests only", config: containerd(t, map[string]string{S: `
[host."https://` + M + `"]
  capabilities = ["pull"]
`}), image: S + "/team/app:1", want: []string{S + "/team/app:1 kubelet"}, skipped: []string{M + ": " + ReasonDigestsOnly}},
		{name: "containerd pull without resolve serves a digest", config: containerd(t, map[string]string{S: `
[host."https://` + M + `"]
  capabilities = ["pull"]
`}), image: S + "/team/app@" + digest, want: []string{M + "/team/app@" + digest + " kubelet", S + "/team/app@" + digest + " kubelet"}},
		{name: "containerd hosts in file order, then server", config: containerd(t, map[string]string{S: `
server = "https://backup.example.com"
[host."https://b.example.com"]
[host."https://a.example.com"]
`}), image: S + "/x:1", want: []string{"b.example.com/x:1 kubelet", "a.example.com/x:1 kubelet", "backup.example.com/x:1 kubelet"}},
		{name: "containerd _default applies to other hosts", config: containerd(t, map[string]string{"_default": `
[host."https://` + M + `"]
`}), image: "quay.io/team/app:1", want: []string{M + "/team/app:1 kubelet", "quay.io/team/app:1 kubelet"}},
		{name: "containerd host directory hides _default", config: containerd(t, map[string]string{"_default": `
[host."https://` + M + `"]
`, "quay.io": ``}), image: "quay.io/team/app:1", want: []string{"quay.io/team/app:1 kubelet"}},
		{name: "containerd matches the registry host exactly", config: containerd(t, map[string]string{"source.example.com_5000_": `
[host."https://` + M + `"]
`}), image: S + "/team/app:1", want: []string{S + "/team/app:1 kubelet"}},
		{name: "containerd host_port_ directory", config: containerd(t, map[string]string{"source.example.com_5000_": `
[host."https://` + M + `"]
`}), image: S + ":5000/team/app:1", want: []string{M + "/team/app:1 kubelet", S + ":5000/team/app:1 kubelet"}},
		{name: "containerd keeps Docker Hub's repository path", config: containerd(t, map[string]string{"docker.io": `
server = "https://registry-1.docker.io"
[host."https://` + M + `"]
`}), image: "nginx:1.27", want: []string{M + "/library/nginx:1.27 kubelet", "docker.io/library/nginx:1.27 kubelet"}},
		{name: "containerd override_path names a namespace", config: containerd(t, map[string]string{"docker.io": `
[host."https://` + M + `/v2/hub-proxy"]
  override_path = true
`}), image: "nginx:1.27", want: []string{M + "/hub-proxy/library/nginx:1.27 kubelet", "docker.io/library/nginx:1.27 kubelet"}},
		{name: "containerd mirror host without a dot stays a host", config: containerd(t, map[string]string{S: `
[host."http://mirror"]
`}), image: S + "/team/app:1", want: []string{"mirror/team/app:1 kubelet", S + "/team/app:1 kubelet"}},
		{name: "containerd server without pull is never contacted", config: containerd(t, map[string]string{S: `
server = "https://` + S + `"
capabilities = ["push"]
[host."https://` + M + `"]
`}), image: S + "/team/app:1", want: []string{M + "/team/app:1 kubelet"}},
		{name: "containerd capabilities without server leave the registry itself all of them", config: containerd(t, map[string]string{S: `
capabilities = ["push"]
[host."https://` + M + `"]
`}), image: S + "/team/app:1", want: []string{M + "/team/app:1 kubelet", S + "/team/app:1 kubelet"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.config.Route(parse(t, tt.image))
			if tt.err != "" {
				if r.Err == nil || !strings.Contains(r.Err.Error(), tt.err) {
					t.Fatalf("Err = %v, want it to contain %q", r.Err, tt.err)
				}
				if len(r.Endpoints) != 0 {
					t.Fatalf("endpoints with an error: %v", r.Endpoints)
				}
				return
			}
			if r.Err != nil {
				t.Fatalf("Err = %v", r.Err)
			}
			got, skipped := describe(r)
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("endpoints:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			if strings.Join(skipped, "\n") != strings.Join(tt.skipped, "\n") {
				t.Errorf("skipped:\n%s\nwant:\n%s", strings.Join(skipped, "\n"), strings.Join(tt.skipped, "\n"))
			}
		})
	}
}

// TestRouteMirrored: an entry that leaves the pull where it was (registries.conf with only
// insecure = true, a containerd directory without hosts.toml) is no mirroring: the route is
// the image itself and Mirrored is false; the entry still hides a less specific one's
// mirrors, as containers/image and containerd pick one entry. Matches says whether any
// entry matches, without allocating.
func TestRouteMirrored(t *testing.T) {
	parent := conf(t, `
[[registry]]
location = "`+S+`"
[[registry.mirror]]
location = "`+M+`"
[[registry]]
location = "`+S+`/plain"
insecure = true
`)
	tests := []struct {
		name     string
		config   *Config
		image    string
		matches  bool
		mirrored bool
		want     string // the endpoints, "\n" between
	}{
		{"insecure only", conf(t, "[[registry]]\nlocation = \""+S+"\"\ninsecure = true\n"), S + "/a:1", true, false, S + "/a:1 kubelet"},
		{"insecure only hides the parent's mirrors", parent, S + "/plain/a:1", true, false, S + "/plain/a:1 kubelet"},
		{"the parent mirrors the rest", parent, S + "/other/a:1", true, true, M + "/other/a:1 node\n" + S + "/other/a:1 kubelet"},
		{"no entry", parent, "quay.io/a:1", false, false, "quay.io/a:1 kubelet"},
		{"containerd directory without hosts.toml", containerd(t, map[string]string{"quay.io": "", "_default": "[host.\"https://" + M + "\"]"}), "quay.io/a:1", true, false, "quay.io/a:1 kubelet"},
		{"containerd hosts.toml without hosts or server", containerd(t, map[string]string{"quay.io": "capabilities = [\"pull\"]"}), "quay.io/a:1", true, false, "quay.io/a:1 kubelet"},
		{"containerd _default", containerd(t, map[string]string{"quay.io": "", "_default": "[host.\"https://" + M + "\"]"}), S + "/a:1", true, true, M + "/a:1 kubelet\n" + S + "/a:1 kubelet"},
		{"a blocked entry without mirrors is mirrored (nowhere to pull)", conf(t, "[[registry]]\nlocation = \""+S+"\"\nblocked = true\n"), S + "/a:1", true, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img := parse(t, tt.image)
			if got := tt.config.Matches(img); got != tt.matches {
				t.Errorf("Matches = %v, want %v", got, tt.matches)
			}
			r := tt.config.Route(img)
			if r.Mirrored() != tt.mirrored {
				t.Errorf("Mirrored = %v, want %v (source %+v)", r.Mirrored(), tt.mirrored, r.Source)
			}
			if got, _ := describe(r); strings.Join(got, "\n") != tt.want {
				t.Errorf("endpoints:\n%s\nwant:\n%s", strings.Join(got, "\n"), tt.want)
			}
			// MirroredRoute is Route when it mirrors, nil when not; asked again it
			// answers from its memo, the same Route.
			first := tt.config.MirroredRoute(img)
			if (first != nil) != tt.mirrored {
				t.Fatalf("MirroredRoute = %+v, want mirrored %v", first, tt.mirrored)
			}
			if first != nil {
				if got, _ := describe(*first); strings.Join(got, "\n") != tt.want {
					t.Errorf("MirroredRoute endpoints:\n%s\nwant:\n%s", strings.Join(got, "\n"), tt.want)
				}
			}
			if again := tt.config.MirroredRoute(img); again != first {
				t.Errorf("MirroredRoute asked again = %p, want the memoized %p", again, first)
			}
		})
	}
	img := parse(t, "quay.io/a/b:1")
	if n := testing.AllocsPerRun(100, func() { parent.Matches(img) }); n != 0 {
		t.Errorf("Matches allocates %v times for an image no entry matches", n)
	}
	// An image no entry matches is memoized once, as nil, and then answered without
	// allocating.
	before := parent.routes.Len()
	if n := testing.AllocsPerRun(100, func() { parent.MirroredRoute(img) }); n != 0 {
		t.Errorf("MirroredRoute allocates %v times for an image no entry matches", n)
	}
	if n := parent.routes.Len(); n != before+1 {
		t.Errorf("an image no entry matches: %d routes memoized, want %d", n, before+1)
	}
	mirrored := parse(t, S+"/other/a:1")
	if n := testing.AllocsPerRun(100, func() { parent.MirroredRoute(mirrored) }); n != 0 {
		t.Errorf("MirroredRoute allocates %v times for a memoized route", n)
	}
}
