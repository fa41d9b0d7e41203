package registryauth

import (
	"slices"
	"strings"

	"github.com/pullguard/pullguard/internal/memo"
)

// SecretIndex holds a namespace's pull secrets, ready to answer which of them could give the
// kubelet a credential for an image. Build it once per change of the namespace's secrets;
// lookups cost the same with ten secrets or ten thousand. Safe for concurrent lookups.
type SecretIndex struct {
	byName    map[string]*PullSecret
	malformed []*PullSecret
	hinted    []*PullSecret
	keyring   *Keyring

	// candidates memoizes Candidates by image name: a namespace's pods pull the same few
	// images again and again, and the index never changes once built. Bounded in entries
	// and in matches per entry, so hostile namespaces cannot grow it.
	candidates memo.Memo[[]Match]
}

// Bounds of the Candidates memo of one index: at most memoEntries image names, each with at
// most memoMatches matches (more are computed every time, as before).
const (
	memoEntries = 64
	memoMatches = 16
)

// NewSecretIndex indexes secrets in name order, the order in which pullguard offers
// namespace secrets that match under the same key.
func NewSecretIndex(secrets []*PullSecret) *SecretIndex {
	sorted := slices.Clone(secrets)
	slices.SortFunc(sorted, func(a, b *PullSecret) int { return strings.Compare(a.Name, b.Name) })
	x := &SecretIndex{byName: make(map[string]*PullSecret, len(sorted)), keyring: &Keyring{}}
	for _, s := range sorted {
		x.byName[s.Name] = s
		if !s.Usable() {
			x.malformed = append(x.malformed, s)
			continue
		}
		if s.Hint != nil {
			x.hinted = append(x.hinted, s)
		}
		x.keyring.Add(s)
	}
	return x
}

// Hinted returns the usable secrets with a Hint (credentials the kubelet ignores), in name
// order.
func (x *SecretIndex) Hinted() []*PullSecret {
	if x == nil {
		return nil
	}
	return x.hinted
}

// Len returns the number of secrets indexed, malformed ones included.
func (x *SecretIndex) Len() int {
	if x == nil {
		return 0
	}
	return len(x.byName)
}

// Get returns the named secret.
func (x *SecretIndex) Get(name string) (*PullSecret, bool) {
	if x == nil {
		return nil, false
	}
	s, ok := x.byName[name]
	return s, ok
}

// Malformed returns the malformed secrets in name order.
func (x *SecretIndex) Malformed() []*PullSecret {
	if x == nil {
		return nil
	}
	return x.malformed
}

// Candidates returns the secrets of the namespace that would each, alone, give the kubelet a
// credential for the image, each once with its first credential: direct matches in the
// kubelet's order, then Docker Hub fallback matches (which the kubelet uses when a pod has
// no direct match). Linear in the matches: 20,000 secrets under quay.io are 20,000 candidates.
//
// The result is shared: callers must not modify it.
func (x *SecretIndex) Candidates(img Image) []Match {
	if x == nil || x.keyring.Empty() {
		return nil
	}
	// Matching reads only the image's name (host, port, path), never its tag or digest.
	if out, ok := x.candidates.Get(img.Name); ok {
		return out
	}
	direct := x.keyring.Lookup(img)
	if len(direct) > 0 && !direct[0].Fallback && img.OnDockerHub() {
		direct = append(direct, x.keyring.fallback(img)...)
	}
	out := firstPerSecret(direct)
	if len(out) <= memoMatches {
		x.candidates.Put(img.Name, out, memoEntries)
	}
	return out
}

// Keyring returns the keyring of the usable secrets, for explanations of near misses.
func (x *SecretIndex) Keyring() *Keyring {
	if x == nil {
		return nil
	}
	return x.keyring
}
