package mirrors

import (
	"fmt"

	"github.com/pullguard/pullguard/internal/memo"
	"github.com/pullguard/pullguard/pkg/registryauth"
)

// Runtime names the container runtime whose pull rules apply (--runtime).
type Runtime string

const (
	// CRIO is CRI-O (containers/image): the kubelet's credential goes only to endpoints on
	// the source's host; elsewhere the node's auth file is read by containers/image's rules.
	CRIO Runtime = "crio"
	// Containerd sends the kubelet's credential to every host of the image's hosts.toml.
	Containerd Runtime = "containerd"
)

// PullFrom says which references a mirror serves.
type PullFrom uint8

const (
	All        PullFrom = iota // tags and digests
	DigestOnly                 // ImageDigestMirrorSet, ImageContentSourcePolicy, mirror-by-digest-only, containerd "pull" without "resolve"
	TagOnly                    // ImageTagMirrorSet
)

// Mirror is one mirror of a source, as configured.
type Mirror struct {
	// Location is host[:port][/path]: the source prefix is replaced by it.
	Location string
	PullFrom PullFrom
	// Origin names what configured it, for messages: "ImageDigestMirrorSet ubi-mirror",
	// "registries.conf", "hosts.toml of docker.io".
	Origin string
}

// Source is one configured source prefix and its mirrors, in the order the runtime tries them.
type Source struct {
	// Prefix is host[:port][/path] (registries.conf also allows "*.example.com"). For
	// containerd it is a registry host[:port] matched exactly, or DefaultHost.
	Prefix string
	// Location is where the source itself is pulled from; empty means Prefix (for
	// containerd: the registry itself).
	Location string
	Mirrors  []Mirror
	// Blocked: the source is never contacted (NeverContactSource, blocked = true).
	Blocked bool
	// BlockedBy names what blocked it, for messages.
	BlockedBy string
	// SourcePullFrom says which references the source itself serves: All but for a
	// containerd `server` whose capabilities lack "resolve" (DigestOnly). A server without
	// "pull" is Blocked. (Without a `server` key the registry itself has every capability,
	// whatever the file's top-level capabilities say.)
	SourcePullFrom PullFrom
}

// DefaultHost is the Prefix of containerd's _default host directory: the configuration of
// every registry without a directory of its own.
const DefaultHost = "_default"

// Config is the node's mirror configuration, for one runtime. The zero value (and nil)
// mirrors nothing. Do not change a Config once MirroredRoute has been asked: it memoizes
// its answers.
type Config struct {
	Runtime Runtime
	Sources []Source

	routes memo.Memo[*Route] // MirroredRoute by reference as written
}

// routeMemoSize bounds a Config's memo of routes.
const routeMemoSize = 4096

// Endpoint is one place the runtime tries for an image, in the runtime's order.
type Endpoint struct {
	// Image is the reference as sent there (registry and repository rewritten).
	Image registryauth.Image
	// MirrorOf is the source prefix this endpoint mirrors; empty for the source itself.
	MirrorOf string
	// Origin names what configured the endpoint; empty for the source.
	Origin string
	// KubeletCredential is set where the runtime sends the kubelet's credential; elsewhere
	// (CRI-O, another host) it reads the node's auth file (registryauth.Keyring.AuthFileLookup).
	// CRI-O also reads the auth file where this is set when the kubelet sends no credential
	// (no username: an anonymous pull as the kubelet sees it).
	KubeletCredential bool
}

// Skip is a configured mirror the runtime does not try for this reference, and why.
type Skip struct {
	Mirror Mirror
	Reason string // ReasonDigestsOnly, ReasonTagsOnly, or why its location is blocked
}

// Reasons a mirror is skipped for a reference.
const (
	ReasonDigestsOnly = "mirrors digests only"
	ReasonTagsOnly    = "mirrors tags only"
)

// Route is where a pull of one image goes.
type Route struct {
	Endpoints []Endpoint
	// Source is the configuration entry that matched, nil when none did (then Endpoints is
	// the image itself, with the kubelet's credential).
	Source  *Source
	Skipped []Skip
	// Err is set when CRI-O cannot even start the pull: the reference rewritten for one of
	// the endpoints is not a valid name (containers/image fails the whole pull before
	// contacting anything). Endpoints is then empty.
	Err error
}

// Mirrored reports whether the configuration changes where the image is pulled from: false
// when no entry matches it, and when the entry that does (the most specific) leaves the pull
// where it was, such as a registries.conf entry that only says `insecure = true`, or a
// containerd host directory without hosts.toml (either still hides a less specific entry's
// mirrors).
func (r Route) Mirrored() bool { return r.Source != nil }

// Matches reports whether some entry of the configuration matches img, without allocating:
// when it is false, Route(img) is the image itself. The webhook asks it for every image of
// every pod, and most match nothing.
//
// A zero Runtime follows containerd, the default --runtime.
func (c *Config) Matches(img registryauth.Image) bool {
	switch {
	case c == nil || len(c.Sources) == 0:
		return false
	case c.Runtime == CRIO:
		return c.mostSpecific(img.Name) >= 0
	}
	return c.hostEntry(img.Registry) >= 0
}

// Route returns the endpoints the runtime tries for img, in order. When the configuration
// does not change where img is pulled from (Mirrored is false) it is the image itself, with
// the kubelet's credential.
//
// A zero Runtime follows containerd, the default --runtime.
func (c *Config) Route(img registryauth.Image) Route {
	if !c.Matches(img) {
		return direct(img)
	}
	return c.matchedRoute(img)
}

// MirroredRoute is Route for the webhook, which asks it for every image of every pod: the
// route when the configuration changes where img is pulled from, nil when it does not. Its
// answers are memoized by the reference as written (img as ParseImage returns it for that
// reference), so the Route is shared: read it, never change it.
func (c *Config) MirroredRoute(img registryauth.Image) *Route {
	if c == nil || len(c.Sources) == 0 {
		return nil
	}
	// Images no entry matches are memoized too, as nil: a lookup costs less than scanning
	// the entries, and the memo starts afresh when full.
	if r, ok := c.routes.Get(img.Ref); ok {
		return r
	}
	var route *Route
	if c.Matches(img) {
		if r := c.matchedRoute(img); r.Mirrored() {
			route = &r
		}
	}
	c.routes.Put(img.Ref, route, routeMemoSize)
	return route
}

// matchedRoute is Route for an image that Matches.
func (c *Config) matchedRoute(img registryauth.Image) Route {
	var r Route
	if c.Runtime == CRIO {
		r = c.routeCRIO(img)
	} else {
		r = c.routeContainerd(img)
	}
	if r.itself(img) {
		return direct(img)
	}
	return r
}

func direct(img registryauth.Image) Route {
	return Route{Endpoints: []Endpoint{{Image: img, KubeletCredential: true}}}
}

// itself reports whether a route is the image itself and nothing else: one endpoint, the
// image as written, with the kubelet's credential, no mirror left out.
func (r *Route) itself(img registryauth.Image) bool {
	if r.Err != nil || len(r.Skipped) > 0 || len(r.Endpoints) != 1 {
		return false
	}
	e := &r.Endpoints[0]
	return e.MirrorOf == "" && e.KubeletCredential && e.Image == img
}

// routeCRIO follows containers/image: the most specific source prefix of the image's name
// decides (pkg/sysregistriesv2 FindRegistry); its mirrors that serve the reference's kind
// come first, in order, then the source (PullSourcesFromReference). Each endpoint's
// reference is the source prefix replaced by the endpoint's location, and an endpoint is
// refused when the entry that matches its own name is blocked (docker.newDockerClient
// checks every endpoint, so a blocked source's mirrors are still tried, and a mirror under
// a blocked prefix is not). The kubelet's credential goes only where the endpoint's
// registry equals the image's (newImageSourceAttempt compares reference.Domain).
func (c *Config) routeCRIO(img registryauth.Image) Route {
	i := c.mostSpecific(img.Name)
	if i < 0 {
		return direct(img)
	}
	s := &c.Sources[i]
	ref := img.FullReference()
	if img.Digest != "" {
		// CRI-O drops the tag of a reference with both before containers/image sees it
		// (RegistryImageReferenceFromRaw).
		ref = img.Name + "@" + img.Digest
	}
	cut := prefixMatch(ref, s.Prefix)
	r := Route{Source: s, Endpoints: make([]Endpoint, 0, len(s.Mirrors)+1)}
	for _, m := range s.Mirrors {
		if reason, skip := skipFor(m.PullFrom, img); skip {
			r.Skipped = append(r.Skipped, Skip{Mirror: m, Reason: reason})
			continue
		}
		at, err := rewrite(m.Location, ref[cut:])
		if err != nil {
			return Route{Source: s, Skipped: r.Skipped, Err: fmt.Errorf("mirror %s (%s) of %s: %w", m.Location, m.Origin, s.Prefix, err)}
		}
		if b := c.blockedAt(at.Name); b != nil {
			r.Skipped = append(r.Skipped, Skip{Mirror: m, Reason: blockedReason(b)})
			continue
		}
		r.Endpoints = append(r.Endpoints, Endpoint{Image: at, MirrorOf: s.Prefix, Origin: m.Origin, KubeletCredential: at.Registry == img.Registry})
	}
	if _, skip := skipFor(s.SourcePullFrom, img); skip {
		return r // the source is no mirror: Source.SourcePullFrom says why it is missing
	}
	if s.Location == "" {
		// The source pulled from its own prefix: the image itself, blocked when its entry is.
		if !s.Blocked {
			r.Endpoints = append(r.Endpoints, Endpoint{Image: img, KubeletCredential: true})
		}
		return r
	}
	at, err := rewrite(s.Location, ref[cut:])
	if err != nil {
		return Route{Source: s, Skipped: r.Skipped, Err: fmt.Errorf("location %s of %s: %w", s.Location, s.Prefix, err)}
	}
	if c.blockedAt(at.Name) == nil {
		r.Endpoints = append(r.Endpoints, Endpoint{Image: at, KubeletCredential: at.Registry == img.Registry})
	}
	return r
}

// routeContainerd follows containerd's hosts.toml: the image's registry host selects a
// directory (or _default); its hosts come in file order, each kept only when its
// capabilities serve the reference (a tag needs pull and resolve, a digest pull), then the
// server. Each host receives the repository unchanged under its own API root, and the
// kubelet's credential (the CRI plugin's credential callback ignores the host).
func (c *Config) routeContainerd(img registryauth.Image) Route {
	i := c.hostEntry(img.Registry)
	if i < 0 {
		return direct(img)
	}
	s := &c.Sources[i]
	of := s.Prefix
	if of == DefaultHost {
		of = img.Registry
	}
	r := Route{Source: s, Endpoints: make([]Endpoint, 0, len(s.Mirrors)+1)}
	for _, m := range s.Mirrors {
		if reason, skip := skipFor(m.PullFrom, img); skip {
			r.Skipped = append(r.Skipped, Skip{Mirror: m, Reason: reason})
			continue
		}
		at, err := img.Relocate(m.Location)
		if err != nil {
			r.Skipped = append(r.Skipped, Skip{Mirror: m, Reason: "its location does not name a repository: " + err.Error()})
			continue
		}
		r.Endpoints = append(r.Endpoints, Endpoint{Image: at, MirrorOf: of, Origin: m.Origin, KubeletCredential: true})
	}
	if _, skip := skipFor(s.SourcePullFrom, img); skip || s.Blocked {
		return r
	}
	if s.Location == "" {
		r.Endpoints = append(r.Endpoints, Endpoint{Image: img, KubeletCredential: true})
		return r
	}
	at, err := img.Relocate(s.Location)
	if err != nil {
		r.Err = fmt.Errorf("server %s of %s: %w", s.Location, s.Prefix, err)
		return r
	}
	r.Endpoints = append(r.Endpoints, Endpoint{Image: at, KubeletCredential: true})
	return r
}

// skipFor reports whether an endpoint serving only pf is left out for img, and why.
func skipFor(pf PullFrom, img registryauth.Image) (string, bool) {
	switch {
	case pf == DigestOnly && img.Digest == "":
		return ReasonDigestsOnly, true
	case pf == TagOnly && img.Digest != "":
		return ReasonTagsOnly, true
	}
	return "", false
}

func blockedReason(b *Source) string {
	by := b.BlockedBy
	if by == "" {
		by = "the configuration"
	}
	return "its location is blocked under " + b.Prefix + " by " + by
}
