package registryauth

import (
	"math"
	"net"
	"net/url"
	"strings"
)

// Key is a registry key of a docker config ("https://index.docker.io/v1/", "quay.io/org",
// "*.example.com:5000") in the form the kubelet matches it.
//
// A secret may hold a hundred thousand keys, so a Key is compact: the kubelet's name and its
// host, port and path are offsets into Raw whenever they are substrings of it (they almost
// always are), and only the odd key ("quay.io/v2/org", escapes, 64 KiB names) carries a
// separate form.
type Key struct {
	// Raw is the key as written in the secret.
	Raw string

	odd *keyForm // the form when it is not made of substrings of Raw

	nameStart, nameEnd uint16 // Name is Raw[nameStart:nameEnd]
	hostStart, hostEnd uint16 // hostname
	portStart, portEnd uint16 // port
	pathStart          uint16 // path runs from here to nameEnd
	labels             uint16
	matchable, glob    bool
}

// keyForm is a key's matching form spelled out.
type keyForm struct {
	name, hostname, port, path string
	labels                     int
}

// ParseKey turns a docker config key into the kubelet's matching form, as
// BasicDockerKeyring.Add does: add https:// when there is no scheme, parse as a URL (a key
// that does not parse is ignored by the kubelet: Name is empty and it matches nothing), drop
// a leading /v1/ or /v2/ of the path, and keep host or host+path.
func ParseKey(raw string) Key {
	value := raw
	if !strings.HasPrefix(value, "https://") && !strings.HasPrefix(value, "http://") {
		value = "https://" + value
	}
	parsed, err := url.Parse(value)
	if err != nil {
		return Key{Raw: raw}
	}
	path := parsed.Path
	if strings.HasPrefix(path, "/v2/") || strings.HasPrefix(path, "/v1/") {
		path = path[3:]
	}
	if path != "" && path != "/" {
		return keyNamed(raw, parsed.Host+path)
	}
	return keyNamed(raw, parsed.Host)
}

// keyNamed returns the key raw whose kubelet name is name, in the form the kubelet compares
// with an image: it parses the name a second time for that.
func keyNamed(raw, name string) Key {
	k := Key{Raw: raw}
	f := keyForm{name: name}
	host, kpath, ok := parseSchemeless(f.name)
	if ok {
		k.matchable = true
		f.hostname, f.port = splitHostPort(host)
		f.labels = strings.Count(f.hostname, ".") + 1
		f.path = kpath
		k.glob = strings.ContainsAny(f.hostname, `*?[\`)
	}
	if !k.pack(f, host) {
		f.name = strings.Clone(f.name)
		f.hostname, f.port, f.path = strings.Clone(f.hostname), strings.Clone(f.port), strings.Clone(f.path)
		k.odd = &f
	}
	return k
}

// pack stores f as offsets into Raw, and reports whether it could: the name must be a
// substring of Raw, host and path must split it, and everything must fit the offsets.
func (k *Key) pack(f keyForm, host string) bool {
	if len(k.Raw) > math.MaxUint16 || f.labels > math.MaxUint16 {
		return false
	}
	n := strings.Index(k.Raw, f.name)
	if n < 0 {
		return false
	}
	k.nameStart, k.nameEnd = uint16(n), uint16(n+len(f.name))
	if !k.matchable {
		return true
	}
	if !strings.HasPrefix(f.name, host) || f.name[len(host):] != f.path {
		return false
	}
	h := strings.Index(host, f.hostname)
	p := strings.LastIndex(host, f.port)
	if h < 0 || p < 0 || host[h:h+len(f.hostname)] != f.hostname {
		return false
	}
	if f.port == "" {
		p = len(host)
	}
	k.hostStart, k.hostEnd = uint16(n+h), uint16(n+h+len(f.hostname))
	k.portStart, k.portEnd = uint16(n+p), uint16(n+p+len(f.port))
	k.pathStart = uint16(n + len(host))
	k.labels = uint16(f.labels)
	return true
}

// Name is the kubelet's key: the host, or host and path, with the scheme and a leading
// /v1/ or /v2/ dropped. Keys are ordered by Name. Empty when Raw is not a URL.
func (k *Key) Name() string {
	if k.odd != nil {
		return k.odd.name
	}
	return k.Raw[k.nameStart:k.nameEnd]
}

func (k *Key) hostname() string {
	if k.odd != nil {
		return k.odd.hostname
	}
	return k.Raw[k.hostStart:k.hostEnd]
}

func (k *Key) port() string {
	if k.odd != nil {
		return k.odd.port
	}
	return k.Raw[k.portStart:k.portEnd]
}

func (k *Key) path() string {
	if k.odd != nil {
		return k.odd.path
	}
	return k.Raw[k.pathStart:k.nameEnd]
}

func (k *Key) labelCount() int {
	if k.odd != nil {
		return k.odd.labels
	}
	return int(k.labels)
}

// Valid reports whether the kubelet can ever match this key against an image.
func (k Key) Valid() bool { return k.matchable }

// Matches reports whether the kubelet matches this key to the image: equal ports, the same
// number of dot-separated host labels each matching as a glob (a '*' stays inside one
// label), and the key's path a plain string prefix of the image's path. Case-sensitive.
func (k Key) Matches(img Image) bool { return k.matches(img) }

func (k *Key) matches(img Image) bool {
	if !k.matchable || k.port() != img.port || k.labelCount() != img.labels {
		return false
	}
	if !strings.HasPrefix(img.path, k.path()) {
		return false
	}
	if !k.glob {
		return k.hostname() == img.hostname
	}
	return globLabelsMatch(k.hostname(), img.hostname)
}

// globLabelsMatch matches two hostnames of the same label count label by label, with
// filepath.Match semantics per label, as the kubelet does; a malformed pattern never matches.
func globLabelsMatch(pattern, host string) bool {
	for {
		p, restP, more := strings.Cut(pattern, ".")
		l, restH, _ := strings.Cut(host, ".")
		if ok, err := matchLabel(p, l); err != nil || !ok {
			return false
		}
		if !more {
			return true
		}
		pattern, host = restP, restH
	}
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
