package registryauth

import (
	"strings"
	"unicode"
)

// maxDisplay bounds a key shown in a message: a secret may hold a 64 KiB key, and a message
// quotes up to three.
const maxDisplay = 128

// Display is the key as written, for messages: without userinfo (a key may be written
// https://robot:password@quay.io, and the kubelet ignores what precedes the '@'), without
// control characters, and cut to maxDisplay bytes.
func (k Key) Display() string {
	s := k.Raw
	authority := s
	if i := strings.Index(s, "://"); i >= 0 {
		authority = s[i+3:]
	}
	start := len(s) - len(authority)
	if slash := strings.IndexByte(authority, '/'); slash >= 0 {
		authority = authority[:slash]
	}
	if at := strings.LastIndexByte(authority, '@'); at >= 0 {
		s = s[:start] + s[start+at+1:]
	}
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, s)
	if len(s) > maxDisplay {
		cut := maxDisplay
		for cut > 0 && !utf8Start(s[cut]) {
			cut--
		}
		s = s[:cut] + "..."
	}
	return s
}

// utf8Start reports whether b begins a UTF-8 sequence, so a cut never splits a rune.
func utf8Start(b byte) bool { return b&0xC0 != 0x80 }
