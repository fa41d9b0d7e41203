package registryauth

import (
	"slices"
	"strings"
)

// dockerHubKey is the key "https://index.docker.io/v1/" becomes, the only one the kubelet
// falls back to for Docker Hub images.
const dockerHubKey = "index.docker.io"

// Match is one credential the kubelet would try for an image.
type Match struct {
	// Secret names the pull secret (or config file) the credential comes from.
	Secret string
	// Key is the kubelet key that matched ("quay.io/org"), and RawKey the key as written.
	Key    string
	RawKey string
	// Fallback is set when the credential matched only through the Docker Hub fallback.
	Fallback   bool
	Credential Credential
}

// Keyring holds the credentials of an ordered list of pull secrets and answers, for an
// image, which credentials the kubelet tries and in what order. It mirrors the kubelet's
// BasicDockerKeyring, indexed by host so a lookup does not scan every key.
//
// A Keyring is not safe for concurrent mutation; lookups on a Keyring no longer being
// added to are safe from many goroutines.
type Keyring struct {
	groups map[string]*keyGroup
	exact  map[hostPort]*hostBucket
	globs  map[globBucket][]*keyGroup
}

// hostBucket holds the keys of one exact host. Hosts with many path-scoped keys
// (quay.io/team-1 ... quay.io/team-5000) are also indexed by path, so a lookup probes the
// image path's prefixes instead of scanning every key.
type hostBucket struct {
	groups []*keyGroup
	byPath map[string]*keyGroup
}

// byPathThreshold is the bucket size from which lookups use the path index.
const byPathThreshold = 16

func (b *hostBucket) add(g *keyGroup) {
	b.groups = append(b.groups, g)
	switch {
	case b.byPath != nil:
		b.byPath[g.key.path] = g
	case len(b.groups) > byPathThreshold:
		b.byPath = make(map[string]*keyGroup, 2*len(b.groups))
		for _, g := range b.groups {
			b.byPath[g.key.path] = g
		}
	}
}

// matching appends the bucket's groups whose path is a plain string prefix of path.
func (b *hostBucket) matching(path string, found []*keyGroup) []*keyGroup {
	if b.byPath == nil {
		for _, g := range b.groups {
			if strings.HasPrefix(path, g.key.path) {
				found = append(found, g)
			}
		}
		return found
	}
	for i := 0; i <= len(path); i++ {
		if g, ok := b.byPath[path[:i]]; ok {
			found = append(found, g)
		}
	}
	return found
}

// keyGroup is every credential under one kubelet key, in secret order.
type keyGroup struct {
	key     Key
	matches []Match
}

type hostPort struct{ hostname, port string }

type globBucket struct {
	labels int
	port   string
}

// NewKeyring returns a keyring of the usable secrets among secrets, in that order: for a
// pod, its imagePullSecrets order, which decides between credentials under the same key.
func NewKeyring(secrets ...*PullSecret) *Keyring {
	k := &Keyring{}
	for _, s := range secrets {
		k.Add(s)
	}
	return k
}

// Add appends a secret's credentials after those already held. Malformed secrets are skipped.
func (k *Keyring) Add(s *PullSecret) {
	if s == nil || !s.Usable() {
		return
	}
	for _, e := range s.Entries {
		if e.Key.Name == "" {
			continue // the kubelet skips keys that are not URLs
		}
		g := k.group(e.Key)
		g.matches = append(g.matches, Match{Secret: s.Name, Key: e.Key.Name, RawKey: e.Key.Raw, Credential: e.Credential})
	}
}

func (k *Keyring) group(key Key) *keyGroup {
	if g, ok := k.groups[key.Name]; ok {
		return g
	}
	if k.groups == nil {
		k.groups = make(map[string]*keyGroup)
		k.exact = make(map[hostPort]*hostBucket)
		k.globs = make(map[globBucket][]*keyGroup)
	}
	g := &keyGroup{key: key}
	k.groups[key.Name] = g
	switch {
	case !key.matchable:
		// Kept for the Docker Hub fallback, which looks keys up by name only.
	case key.glob:
		b := globBucket{labels: key.labels, port: key.port}
		k.globs[b] = append(k.globs[b], g)
	default:
		h := hostPort{hostname: key.hostname, port: key.port}
		b, ok := k.exact[h]
		if !ok {
			b = &hostBucket{}
			k.exact[h] = b
		}
		b.add(g)
	}
	return g
}

// Empty reports whether the keyring holds no credential.
func (k *Keyring) Empty() bool { return k == nil || len(k.groups) == 0 }

// Lookup returns the credentials the kubelet tries for the image, in its order: every
// matching key in reverse lexical order (more specific paths first), each key's credentials
// in secret order; when nothing matches and the image is on Docker Hub, the credentials
// under index.docker.io. An empty result means an anonymous pull.
func (k *Keyring) Lookup(img Image) []Match {
	if k.Empty() {
		return nil
	}
	found := k.direct(img)
	if len(found) == 0 {
		return k.fallback(img)
	}
	n := 0
	for _, g := range found {
		n += len(g.matches)
	}
	out := make([]Match, 0, n)
	for _, g := range found {
		out = append(out, g.matches...)
	}
	return out
}

// direct returns the groups whose keys match the image, in the kubelet's order.
func (k *Keyring) direct(img Image) []*keyGroup {
	var found []*keyGroup
	if b, ok := k.exact[hostPort{hostname: img.hostname, port: img.port}]; ok {
		found = b.matching(img.path, found)
	}
	for _, g := range k.globs[globBucket{labels: img.labels, port: img.port}] {
		if g.key.Matches(img) {
			found = append(found, g)
		}
	}
	if len(found) > 1 {
		slices.SortFunc(found, func(a, b *keyGroup) int { return strings.Compare(b.key.Name, a.key.Name) })
	}
	return found
}

func (k *Keyring) fallback(img Image) []Match {
	g, ok := k.groups[dockerHubKey]
	if !ok || !img.OnDockerHub() {
		return nil
	}
	out := make([]Match, len(g.matches))
	for i, m := range g.matches {
		m.Fallback = true
		out[i] = m
	}
	return out
}

// Keys calls fn for every key and the secrets holding it, for explanations of near misses.
func (k *Keyring) Keys(fn func(key Key, secrets []Match)) {
	if k.Empty() {
		return
	}
	names := make([]string, 0, len(k.groups))
	for name := range k.groups {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		g := k.groups[name]
		fn(g.key, g.matches)
	}
}

// SecretNames returns the names of the secrets of matches, each once, in order.
func SecretNames(matches []Match) []string {
	var names []string
	for _, m := range matches {
		if !slices.Contains(names, m.Secret) {
			names = append(names, m.Secret)
		}
	}
	return names
}
