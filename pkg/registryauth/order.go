package registryauth

import (
	"cmp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The matching order of entries. Keys of an exact host come first, ordered by hostname
// compared case-insensitively (so the keys that differ from an image's registry only in
// case sit beside it), then hostname, port, path and key; then globs by port, label count,
// hostname, path and key; then keys the kubelet cannot match, by key. Every lookup is then a
// bisection to a short run of entries, in a secret's own entries or in an index over many.

// key classes, in order.
const (
	classExact = iota
	classGlob
	classOther
)

func (k *Key) class() int {
	switch {
	case !k.matchable:
		return classOther
	case k.glob:
		return classGlob
	default:
		return classExact
	}
}

// withEntries stores entries in s in matching order and records where each class starts.
func withEntries(s *PullSecret, entries []Entry) *PullSecret {
	slices.SortFunc(entries, func(a, b Entry) int { return compareKeys(&a.Key, &b.Key) })
	s.Entries = entries
	s.exact = 0
	for s.exact < len(entries) && entries[s.exact].Key.class() == classExact {
		s.exact++
	}
	s.globs = 0
	for s.exact+s.globs < len(entries) && entries[s.exact+s.globs].Key.class() == classGlob {
		s.globs++
	}
	return s
}

// compareKeys is the matching order. Keys comparing equal have the same Raw.
func compareKeys(a, b *Key) int {
	ca, cb := a.class(), b.class()
	if ca != cb {
		return cmp.Compare(ca, cb)
	}
	switch ca {
	case classExact:
		if c := compareHost(a, b.hostname(), b.port()); c != 0 {
			return c
		}
	case classGlob:
		if c := comparePort(a, b.port(), b.labelCount()); c != 0 {
			return c
		}
		if c := strings.Compare(a.hostname(), b.hostname()); c != 0 {
			return c
		}
	default:
		return strings.Compare(a.Raw, b.Raw)
	}
	if c := strings.Compare(a.path(), b.path()); c != 0 {
		return c
	}
	return strings.Compare(a.Raw, b.Raw)
}

// compareHost orders an exact key against a hostname and port.
func compareHost(k *Key, hostname, port string) int {
	h := k.hostname()
	if c := compareFold(h, hostname); c != 0 {
		return c
	}
	if c := strings.Compare(h, hostname); c != 0 {
		return c
	}
	return strings.Compare(k.port(), port)
}

// comparePort orders a glob key against a port and label count.
func comparePort(k *Key, port string, labels int) int {
	if c := strings.Compare(k.port(), port); c != 0 {
		return c
	}
	return cmp.Compare(k.labelCount(), labels)
}

// compareFold orders strings so that those strings.EqualFold calls equal compare equal:
// rune by rune, each rune replaced by the least rune of its case-folding orbit.
func compareFold(a, b string) int {
	for a != "" && b != "" {
		var ra, rb rune
		if c := a[0]; c < utf8.RuneSelf {
			ra, a = foldASCII(c), a[1:]
		} else {
			r, n := utf8.DecodeRuneInString(a)
			ra, a = leastFold(r), a[n:]
		}
		if c := b[0]; c < utf8.RuneSelf {
			rb, b = foldASCII(c), b[1:]
		} else {
			r, n := utf8.DecodeRuneInString(b)
			rb, b = leastFold(r), b[n:]
		}
		if ra != rb {
			return cmp.Compare(ra, rb)
		}
	}
	return cmp.Compare(len(a), len(b)) // one is empty: the shorter comes first
}

func foldASCII(c byte) rune {
	if 'a' <= c && c <= 'z' {
		return rune(c - 'a' + 'A')
	}
	return rune(c) // no other ASCII rune has another case
}

func leastFold(r rune) rune {
	least := r
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		least = min(least, f)
	}
	return least
}
