package mirrors

import (
	"errors"
	"strings"

	"github.com/pullguard/pullguard/pkg/registryauth"
)

// mostSpecific returns the index of the source whose prefix matches name (a normalized
// image name) and is longest, -1 when none does. Like containers/image, which keeps the
// first of equal prefixes and scans them sorted, a tie between prefixes of one length goes
// to the lesser prefix, and between equal prefixes to the first: the answer does not
// depend on the order of Sources beyond that.
func (c *Config) mostSpecific(name string) int {
	best := -1
	for i := range c.Sources {
		p := c.Sources[i].Prefix
		if prefixMatch(name, p) < 0 {
			continue
		}
		if best < 0 {
			best = i
			continue
		}
		b := c.Sources[best].Prefix
		if len(p) > len(b) || len(p) == len(b) && p < b {
			best = i
		}
	}
	return best
}

// blockedAt returns the entry that blocks pulls of name, nil when it may be contacted.
func (c *Config) blockedAt(name string) *Source {
	if i := c.mostSpecific(name); i >= 0 && c.Sources[i].Blocked {
		return &c.Sources[i]
	}
	return nil
}

// hostEntry returns containerd's entry for a registry host: its own directory, else
// _default, else -1.
func (c *Config) hostEntry(registry string) int {
	fallback := -1
	for i := range c.Sources {
		switch c.Sources[i].Prefix {
		case registry:
			return i
		case DefaultHost:
			if fallback < 0 {
				fallback = i
			}
		}
	}
	return fallback
}

// prefixMatch returns the length of the part of ref (a name, or a name with tag and
// digest) that prefix matches, -1 when it does not match, by containers/image's rules: a
// plain prefix matches up to a '/', ':' or '@' or the end (so "example.com" also matches
// "example.com:5000/x", which containers/image says not to rely on but does); a wildcard
// "*.example.com" matches any subdomain in the host part, up to the same characters.
func prefixMatch(ref, prefix string) int {
	end := -1
	if rest, ok := strings.CutPrefix(prefix, "*"); ok && strings.HasPrefix(rest, ".") {
		at := strings.Index(ref, rest)
		if at < 0 || strings.Contains(ref[:at], "/") {
			return -1
		}
		end = at + len(rest)
	} else {
		if !strings.HasPrefix(ref, prefix) {
			return -1
		}
		end = len(prefix)
	}
	if end == len(ref) {
		return end
	}
	switch ref[end] {
	case '/', ':', '@':
		return end
	}
	return -1
}

// errNotCanonical: the rewritten reference normalizes to another name, which
// containers/image refuses (reference.ParseNamed).
var errNotCanonical = errors.New("not a canonical reference (a host needs a '.' or a ':', or is localhost)")

// rewrite returns location+rest as containers/image parses a rewritten reference: it must
// be a valid and canonical name.
func rewrite(location, rest string) (registryauth.Image, error) {
	ref := location + rest
	img, err := registryauth.ParseImage(ref)
	if err != nil {
		return registryauth.Image{}, err
	}
	if img.FullReference() != ref {
		return registryauth.Image{}, &registryauth.ReferenceError{Image: ref, Err: errNotCanonical}
	}
	return img, nil
}
