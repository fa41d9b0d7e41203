package mirrors

import (
	"testing"

	"github.com/pullguard/pullguard/internal/depcheck"
)

// TestPure keeps the package as pure as pkg/registryauth: it parses what callers read.
func TestPure(t *testing.T) {
	depcheck.AssertDeps(t, "github.com/pullguard/pullguard/pkg/registryauth/mirrors", []depcheck.Rule{
		depcheck.Forbid("os"),
	}, []depcheck.Rule{
		depcheck.ForbidTree("net/http"),
		depcheck.ForbidTree("crypto/tls"),
		depcheck.Forbid("os/exec"),
		depcheck.ForbidTree("k8s.io"),
		depcheck.ForbidTree("sigs.k8s.io"),
		depcheck.ForbidTree("github.com/openshift"),
		depcheck.ForbidTree("github.com/containers"),
		depcheck.ForbidTree("github.com/google/go-containerregistry"),
		depcheck.ForbidTree("github.com/pullguard/pullguard/pkg/registryauth/probe"),
	})
}

func TestParseRuntime(t *testing.T) {
	for in, want := range map[string]Runtime{"crio": CRIO, "CRI-O": CRIO, "containerd": Containerd} {
		if got, err := ParseRuntime(in); err != nil || got != want {
			t.Errorf("ParseRuntime(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "docker", "cri"} {
		if _, err := ParseRuntime(in); err == nil {
			t.Errorf("ParseRuntime(%q) accepted", in)
		}
	}
}

// TestRouteDetails checks what messages are made of: the matched entry, which source an
// endpoint mirrors and what configured it.
func TestRouteDetails(t *testing.T) {
	c := crio(idms("ubi-mirror", S+"/ubi9", NeverContactSource, M+"/ubi9"), itms("tags", S+"/ubi9", NeverContactSource, M+"/tags"))
	r := c.Route(parse(t, S+"/ubi9/ubi@"+digest))
	if !r.Mirrored() || r.Source == nil || r.Source.Prefix != S+"/ubi9" || r.Source.BlockedBy != "ImageDigestMirrorSet ubi-mirror" {
		t.Fatalf("Source = %+v", r.Source)
	}
	if len(r.Endpoints) != 1 {
		t.Fatalf("endpoints %+v", r.Endpoints)
	}
	e := r.Endpoints[0]
	if e.MirrorOf != S+"/ubi9" || e.Origin != "ImageDigestMirrorSet ubi-mirror" || e.Image.Registry != M || e.Image.Repository != "ubi9/ubi" || e.Image.Digest != digest {
		t.Fatalf("endpoint %+v", e)
	}
	if len(r.Skipped) != 1 || r.Skipped[0].Mirror.Origin != "ImageTagMirrorSet tags" {
		t.Fatalf("skipped %+v", r.Skipped)
	}

	src := c.Route(parse(t, S+"/other:1"))
	if src.Mirrored() || len(src.Endpoints) != 1 || src.Endpoints[0].MirrorOf != "" || src.Endpoints[0].Origin != "" {
		t.Fatalf("unmatched image: %+v", src)
	}

	d := containerd(t, map[string]string{"_default": `[host."https://` + M + `"]`})
	r = d.Route(parse(t, "quay.io/team/app:1"))
	if r.Source.Prefix != DefaultHost || r.Endpoints[0].MirrorOf != "quay.io" || r.Endpoints[0].Origin != "hosts.toml of _default" {
		t.Fatalf("containerd _default: %+v", r)
	}
}

// TestRouteAllocations: the webhook routes every image; without a matching entry a route
// is one allocation (its endpoint).
func TestRouteAllocations(t *testing.T) {
	img := parse(t, "quay.io/team/app:1")
	var sets []MirrorSet
	for _, team := range []string{"a", "b", "c", "d", "e", "f", "g", "h"} {
		sets = append(sets, idms("set-"+team, "registry.example.com/"+team, "", M+"/"+team))
	}
	for name, c := range map[string]*Config{
		"nil":                 nil,
		"empty":               {Runtime: CRIO},
		"crio, no match":      crio(sets...),
		"containerd no match": containerd(t, map[string]string{"docker.io": `[host."https://` + M + `"]`}),
	} {
		if n := testing.AllocsPerRun(100, func() { _ = c.Route(img) }); n > 1 {
			t.Errorf("%s: %v allocations, want at most 1", name, n)
		}
	}
}

// BenchmarkRoute: one image through a configuration of 50 mirror sets, matching or not.
func BenchmarkRoute(b *testing.B) {
	var sets []MirrorSet
	for i := range 50 {
		sets = append(sets, idms("set", "registry.example.com/team-"+string(rune('a'+i%26))+string(rune('a'+i/26)), "", M+"/mirror"))
	}
	c := crio(sets...)
	for _, ref := range []string{"quay.io/team/app:1", "registry.example.com/team-ab/app@" + digest} {
		img := parse(b, ref)
		b.Run(ref[:8], func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = c.Route(img)
			}
		})
	}
}
