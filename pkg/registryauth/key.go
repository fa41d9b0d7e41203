package registryauth

import (
	"net"
	"net/url"
	"strings"
)

// Key is a registry key of a docker config ("https://index.docker.io/v1/", "quay.io/org",
// "*.example.com:5000") in the form the kubelet matches it.
type Key struct {
	// Raw is the key as written in the secret.
	Raw string
	// Name is the kubelet's key: the host, or host and path, with the scheme and a leading
	// /v1/ or /v2/ dropped. Keys are ordered by Name. Empty when Raw is not a URL.
	Name string

	matchable bool
	hostname  string
	port      string
	labels    int
	path      string
	glob      bool
}

// ParseKey turns a docker config key into the kubelet's matching form, as
// BasicDockerKeyring.Add does: add https:// when there is no scheme, parse as a URL (a key
// that does not parse is ignored by the kubelet: Name is empty and it matches nothing), drop
// a leading /v1/ or /v2/ of the path, and keep host or host+path.
func ParseKey(raw string) Key {
	k := Key{Raw: raw}
	value := raw
	if !strings.HasPrefix(value, "https://") && !strings.HasPrefix(value, "http://") {
		value = "https://" + value
	}
	parsed, err := url.Parse(value)
	if err != nil {
		return k
	}
	path := parsed.Path
	if strings.HasPrefix(path, "/v2/") || strings.HasPrefix(path, "/v1/") {
		path = path[3:]
	}
	if path != "" && path != "/" {
		k.Name = parsed.Host + path
	} else {
		k.Name = parsed.Host
	}
	// The kubelet parses the key a second time when it compares it with an image.
	host, kpath, ok := parseSchemeless(k.Name)
	if !ok {
		return k
	}
	k.matchable = true
	k.hostname, k.port = splitHostPort(host)
	k.labels = strings.Count(k.hostname, ".") + 1
	k.path = kpath
	k.glob = strings.ContainsAny(k.hostname, `*?[\`)
	return k
}

// Valid reports whether the kubelet can ever match this key against an image.
func (k Key) Valid() bool { return k.matchable }

// Matches reports whether the kubelet matches this key to the image: equal ports, the same
// number of dot-separated host labels each matching as a glob (a '*' stays inside one
// label), and the key's path a plain string prefix of the image's path. Case-sensitive.
func (k Key) Matches(img Image) bool {
	if !k.matchable || k.port != img.port || k.labels != img.labels {
		return false
	}
	if !strings.HasPrefix(img.path, k.path) {
		return false
	}
	if !k.glob {
		return k.hostname == img.hostname
	}
	return globLabelsMatch(k.hostname, img.hostname)
}

// globLabelsMatch matches two hostnames of the same label count label by label, with
// filepath.Match semantics per label, as the kubelet does; a malformed pattern never matches.
func globLabelsMatch(pattern, host string) bool {
	patterns, labels := strings.Split(pattern, "."), strings.Split(host, ".")
	for i, p := range patterns {
		if ok, err := matchLabel(p, labels[i]); err != nil || !ok {
			return false
		}
	}
	return true
}

// parseSchemeless is the kubelet's ParseSchemelessURL: the host and path of
// "https://"+s.
func parseSchemeless(s string) (host, path string, ok bool) {
	u, err := url.Parse("https://" + s)
	if err != nil {
		return "", "", false
	}
	return u.Host, u.Path, true
}

// splitHostPort is the kubelet's SplitURL without the label split: a host that does not
// split keeps everything as hostname with no port.
func splitHostPort(host string) (hostname, port string) {
	h, p, err := net.SplitHostPort(host)
	if err != nil {
		return host, ""
	}
	return h, p
}
