package registryauth

import (
	"fmt"
	"path/filepath"
	"strings"
)

// Patterns is a list of registry globs with the kubelet's matching rules
// ("*.example.com", "quay.io/acme"), as given to --private-registries.
type Patterns []Key

// ParsePatterns parses a comma-separated list of registry globs. An empty list is valid.
func ParsePatterns(list string) (Patterns, error) {
	var out Patterns
	for _, p := range strings.Split(list, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		k := ParseKey(p)
		if !k.Valid() {
			return nil, fmt.Errorf("registry pattern %q is not a host or host/path", p)
		}
		for _, label := range strings.Split(k.hostname(), ".") {
			if _, err := filepath.Match(label, ""); err != nil {
				return nil, fmt.Errorf("registry pattern %q: bad glob %q: %w", p, label, err)
			}
		}
		out = append(out, k)
	}
	return out, nil
}

// Match reports whether any pattern matches the image.
func (ps Patterns) Match(img Image) bool {
	for _, k := range ps {
		if k.Matches(img) {
			return true
		}
	}
	return false
}

// String returns the patterns as written, comma-separated.
func (ps Patterns) String() string {
	raw := make([]string, len(ps))
	for i, k := range ps {
		raw[i] = k.Raw
	}
	return strings.Join(raw, ",")
}
