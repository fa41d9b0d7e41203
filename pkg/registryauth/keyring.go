package registryauth

import (
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
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
// BasicDockerKeyring without copying a key: each secret's entries are kept in matching order
// (order.go), so a lookup bisects each secret, or, from mergeFrom secrets on, one index of
// references over all of them (8 bytes a key), built on first use.
//
// A Keyring is not safe for concurrent mutation; lookups on a Keyring no longer being
// added to are safe from many goroutines.
type Keyring struct {
	secrets []*PullSecret
	named   int // entries with a kubelet name

	mu     sync.Mutex
	merged atomic.Pointer[mergedIndex]
}

// mergeFrom is the number of secrets from which lookups use a merged index: below it,
// bisecting each secret is cheaper than building one (a pod's few imagePullSecrets).
const mergeFrom = 8

// byPathThreshold is the run length from which a host's keys are searched by the image
// path's prefixes (quay.io/team-1 ... quay.io/team-5000) rather than scanned.
const byPathThreshold = 16

// entryRef names an entry: the secret's place in the keyring and the entry's in the secret.
type entryRef struct{ secret, entry uint32 }

type mergedIndex struct{ classes [3][]entryRef }

// span is the entries of one class in matching order: one secret's, or a merged index's.
type span struct {
	secrets []*PullSecret
	refs    []entryRef // merged: the index; otherwise entries lo.. of secrets[secret]
	merged  bool
	secret  uint32
	lo, n   int
}

func (sp *span) ref(i int) entryRef {
	if sp.merged {
		return sp.refs[i]
	}
	return entryRef{sp.secret, uint32(sp.lo + i)}
}

func (sp *span) key(i int) *Key {
	r := sp.ref(i)
	return &sp.secrets[r.secret].Entries[r.entry].Key
}

// search returns the first index in [lo, hi) at which cmp, which orders the span's keys
// against a target, is >= 0 (or > 0 with after).
func (sp *span) search(lo, hi int, after bool, cmp func(*Key) int) int {
	return lo + sort.Search(hi-lo, func(i int) bool {
		c := cmp(sp.key(lo + i))
		return c > 0 || c == 0 && !after
	})
}

func (sp *span) rangeOf(cmp func(*Key) int) (lo, hi int) {
	lo = sp.search(0, sp.n, false, cmp)
	return lo, sp.search(lo, sp.n, true, cmp)
}

// secretSpan is the entries of one class of secrets[i].
func secretSpan(secrets []*PullSecret, i, class int) span {
	s := secrets[i]
	lo, hi := 0, s.exact
	switch class {
	case classGlob:
		lo, hi = s.exact, s.exact+s.globs
	case classOther:
		lo, hi = s.exact+s.globs, len(s.Entries)
	}
	return span{secrets: secrets, secret: uint32(i), lo: lo, n: hi - lo}
}

// spans appends the keyring's spans of a class to buf.
func (k *Keyring) spans(class int, buf []span) []span {
	if len(k.secrets) >= mergeFrom {
		refs := k.index().classes[class]
		return append(buf, span{secrets: k.secrets, refs: refs, merged: true, n: len(refs)})
	}
	for i := range k.secrets {
		buf = append(buf, secretSpan(k.secrets, i, class))
	}
	return buf
}

func (k *Keyring) index() *mergedIndex {
	if x := k.merged.Load(); x != nil {
		return x
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if x := k.merged.Load(); x != nil {
		return x
	}
	x := &mergedIndex{}
	for i := range k.secrets {
		for class := range x.classes {
			sp := secretSpan(k.secrets, i, class)
			for j := range sp.n {
				x.classes[class] = append(x.classes[class], sp.ref(j))
			}
		}
	}
	for _, refs := range x.classes {
		slices.SortFunc(refs, func(a, b entryRef) int {
			if c := compareKeys(k.key(a), k.key(b)); c != 0 {
				return c
			}
			return compareRefs(a, b)
		})
	}
	k.merged.Store(x)
	return x
}

func (k *Keyring) entry(r entryRef) *Entry { return &k.secrets[r.secret].Entries[r.entry] }
func (k *Keyring) key(r entryRef) *Key     { return &k.entry(r).Key }

func compareRefs(a, b entryRef) int {
	if a.secret != b.secret {
		return int(a.secret) - int(b.secret)
	}
	return int(a.entry) - int(b.entry)
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
	k.secrets = append(k.secrets, s)
	for i := range s.Entries {
		if s.Entries[i].Key.Name() != "" {
			k.named++ // the kubelet skips keys that are not URLs
		}
	}
	k.merged.Store(nil)
}

// Empty reports whether the keyring holds no credential.
func (k *Keyring) Empty() bool { return k == nil || k.named == 0 }

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
	if len(found) > 1 {
		slices.SortFunc(found, func(a, b entryRef) int {
			if c := strings.Compare(k.key(b).Name(), k.key(a).Name()); c != 0 {
				return c
			}
			return compareRefs(a, b)
		})
	}
	out := make([]Match, len(found))
	for i, r := range found {
		out[i] = k.match(r, false)
	}
	return out
}

func (k *Keyring) match(r entryRef, fallback bool) Match {
	e := k.entry(r)
	m := Match{Secret: k.secrets[r.secret].Name, Key: e.Key.Name(), RawKey: e.Key.Raw, Fallback: fallback}
	if e.Credential != nil {
		m.Credential = *e.Credential
	}
	return m
}

// direct returns the entries whose keys match the image.
func (k *Keyring) direct(img Image) []entryRef {
	var found []entryRef
	var buf [mergeFrom]span
	for _, sp := range k.spans(classExact, buf[:0]) {
		found = sp.exactMatches(img, found)
	}
	for _, sp := range k.spans(classGlob, buf[:0]) {
		found = sp.globMatches(img, found)
	}
	return found
}

// exactMatches appends the span's exact-host keys that match the image: the run of its
// host and port, then the keys whose path is a prefix of the image's.
func (sp *span) exactMatches(img Image, found []entryRef) []entryRef {
	lo, hi := sp.rangeOf(func(k *Key) int { return compareHost(k, img.hostname, img.port) })
	if hi-lo <= byPathThreshold {
		for i := lo; i < hi; i++ {
			if strings.HasPrefix(img.path, sp.key(i).path()) {
				found = append(found, sp.ref(i))
			}
		}
		return found
	}
	for n := 0; n <= len(img.path); n++ {
		prefix := img.path[:n]
		for i := sp.search(lo, hi, false, func(k *Key) int { return strings.Compare(k.path(), prefix) }); i < hi && sp.key(i).path() == prefix; i++ {
			found = append(found, sp.ref(i))
		}
	}
	return found
}

// globMatches appends the span's globs that match the image: those of its port and label
// count, each matched label by label.
func (sp *span) globMatches(img Image, found []entryRef) []entryRef {
	lo, hi := sp.rangeOf(func(k *Key) int { return comparePort(k, img.port, img.labels) })
	for i := lo; i < hi; i++ {
		if sp.key(i).matches(img) {
			found = append(found, sp.ref(i))
		}
	}
	return found
}

func (k *Keyring) fallback(img Image) []Match {
	if !img.OnDockerHub() {
		return nil
	}
	var found []entryRef
	var buf [mergeFrom]span
	for _, sp := range k.spans(classExact, buf[:0]) {
		lo, hi := sp.rangeOf(func(key *Key) int { return compareHost(key, dockerHubKey, "") })
		for i := lo; i < hi; i++ {
			if sp.key(i).Name() == dockerHubKey {
				found = append(found, sp.ref(i))
			}
		}
	}
	slices.SortFunc(found, compareRefs)
	out := make([]Match, len(found))
	for i, r := range found {
		out[i] = k.match(r, true)
	}
	return out
}

// SecretNames returns the names of the secrets of matches, each once, in order.
func SecretNames(matches []Match) []string {
	var names []string
	var seen map[string]struct{}
	if len(matches) > byPathThreshold {
		seen = make(map[string]struct{}, len(matches))
	}
	for _, m := range matches {
		if seen != nil {
			if _, dup := seen[m.Secret]; dup {
				continue
			}
			seen[m.Secret] = struct{}{}
		} else if slices.Contains(names, m.Secret) {
			continue
		}
		names = append(names, m.Secret)
	}
	return names
}

// firstPerSecret keeps the first match of each secret, in order. Few matches are checked
// in place, and returned as they are when no secret repeats (the common case).
func firstPerSecret(matches []Match) []Match {
	if len(matches) <= byPathThreshold {
		repeats := false
		for i := 1; i < len(matches) && !repeats; i++ {
			repeats = slices.ContainsFunc(matches[:i], func(m Match) bool { return m.Secret == matches[i].Secret })
		}
		if !repeats {
			return matches
		}
	}
	seen := make(map[string]struct{}, len(matches))
	out := make([]Match, 0, len(matches))
	for _, m := range matches {
		if _, dup := seen[m.Secret]; !dup {
			seen[m.Secret] = struct{}{}
			out = append(out, m)
		}
	}
	return out
}
