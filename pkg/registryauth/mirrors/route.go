package mirrors

import "github.com/pullguard/pullguard/pkg/registryauth"

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
	// Prefix is host[:port][/path] (registries.conf also allows "*.example.com").
	Prefix string
	// Location is where the source itself is pulled from; empty means Prefix.
	Location string
	Mirrors  []Mirror
	// Blocked: the source is never contacted (NeverContactSource, blocked = true).
	Blocked bool
	// BlockedBy names what blocked it, for messages.
	BlockedBy string
}

// Config is the node's mirror configuration, for one runtime. The zero value (and nil)
// mirrors nothing.
type Config struct {
	Runtime Runtime
	Sources []Source
}

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
	KubeletCredential bool
}

// Skip is a configured mirror the runtime does not try for this reference, and why.
type Skip struct {
	Mirror Mirror
	Reason string // "mirrors digests only", "mirrors tags only"
}

// Route is where a pull of one image goes.
type Route struct {
	Endpoints []Endpoint
	// Source is the configuration entry that matched, nil when none did (then Endpoints is
	// the image itself, with the kubelet's credential).
	Source *Source
	Skipped []Skip
}

// Mirrored reports whether any configuration applies to the image.
func (r Route) Mirrored() bool { return r.Source != nil }

// Route returns the endpoints the runtime tries for img, in order. With no matching
// configuration it is the image itself.
func (c *Config) Route(img registryauth.Image) Route {
	return Route{Endpoints: []Endpoint{{Image: img, KubeletCredential: true}}}
}
