package mirrors

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"
)

// OriginRegistriesConf is the Origin of mirrors read from a registries.conf.
const OriginRegistriesConf = "registries.conf"

// The values of pull-from-mirror (containers-registries.conf(5)).
const (
	pullFromAll    = "all"
	pullFromDigest = "digest-only"
	pullFromTag    = "tag-only"
)

// registriesConf is what of containers-registries.conf(5) decides where a pull goes: the
// [[registry]] tables of the v2 format, and the v1 format's blocked list. Other keys
// (unqualified-search-registries, aliases, credential-helpers, ...) are left undecoded.
type registriesConf struct {
	Registries []confRegistry `toml:"registry"`
	V1         *struct {
		Block    struct{ Registries []string } `toml:"block"`
		Insecure struct{ Registries []string } `toml:"insecure"`
		Search   struct{ Registries []string } `toml:"search"`
	} `toml:"registries"`
}

type confRegistry struct {
	Prefix             string       `toml:"prefix"`
	Location           string       `toml:"location"`
	Insecure           bool         `toml:"insecure"`
	Blocked            bool         `toml:"blocked"`
	MirrorByDigestOnly bool         `toml:"mirror-by-digest-only"`
	PullFromMirror     string       `toml:"pull-from-mirror"`
	Mirrors            []confMirror `toml:"mirror"`
}

type confMirror struct {
	Location       string `toml:"location"`
	Insecure       bool   `toml:"insecure"`
	PullFromMirror string `toml:"pull-from-mirror"`
}

// ParseRegistriesConf reads a containers-registries.conf(5) file (CRI-O's
// /etc/containers/registries.conf) and returns its sources, checked as containers/image
// checks them when it loads the file: a configuration it refuses is an error here too,
// since CRI-O then pulls nothing. Entries with the same prefix keep the first, as
// containers/image does; sources come sorted by prefix.
//
// Drop-in files (registries.conf.d) are not read: give the merged configuration.
func ParseRegistriesConf(data []byte) ([]Source, error) {
	var conf registriesConf
	if _, err := toml.Decode(string(data), &conf); err != nil {
		return nil, fmt.Errorf("registries.conf: %w", tomlError(err))
	}
	regs := conf.Registries
	if conf.V1 != nil {
		v1 := conf.V1
		if len(v1.Block.Registries)+len(v1.Insecure.Registries)+len(v1.Search.Registries) > 0 {
			if len(regs) > 0 {
				return nil, errors.New("registries.conf: mixes the v1 [registries.*] tables with v2 [[registry]] tables, which containers/image refuses")
			}
			var err error
			if regs, err = fromV1(v1.Block.Registries, v1.Insecure.Registries); err != nil {
				return nil, err
			}
		}
	}
	sources := make([]Source, 0, len(regs))
	for i := range regs {
		s, err := sourceOf(&regs[i])
		if err != nil {
			return nil, fmt.Errorf("registries.conf: [[registry]] #%d: %w", i+1, err)
		}
		sources = append(sources, s)
	}
	if err := checkConflicts(regs); err != nil {
		return nil, fmt.Errorf("registries.conf: %w", err)
	}
	// The first entry of a prefix wins; later ones are never consulted.
	unique := sources[:0]
	seen := map[string]bool{}
	for _, s := range sources {
		if !seen[s.Prefix] {
			seen[s.Prefix] = true
			unique = append(unique, s)
		}
	}
	slices.SortStableFunc(unique, func(a, b Source) int { return strings.Compare(a.Prefix, b.Prefix) })
	return unique, nil
}

// fromV1 turns the v1 format's lists into entries: only blocking matters here.
func fromV1(blocked, insecure []string) ([]confRegistry, error) {
	var regs []confRegistry
	index := map[string]int{}
	get := func(loc string) (*confRegistry, error) {
		loc, err := cleanLocation(loc)
		if err != nil {
			return nil, fmt.Errorf("registries.conf: [registries] %w", err)
		}
		i, ok := index[loc]
		if !ok {
			i = len(regs)
			index[loc] = i
			regs = append(regs, confRegistry{Location: loc, Prefix: loc})
		}
		return &regs[i], nil
	}
	for _, loc := range blocked {
		r, err := get(loc)
		if err != nil {
			return nil, err
		}
		r.Blocked = true
	}
	for _, loc := range insecure {
		r, err := get(loc)
		if err != nil {
			return nil, err
		}
		r.Insecure = true
	}
	return regs, nil
}

// sourceOf checks and normalizes one [[registry]] as containers/image's
// postProcessRegistries and loadConfigFile do.
func sourceOf(r *confRegistry) (Source, error) {
	var err error
	if r.Location, err = cleanLocation(r.Location); err != nil {
		return Source{}, err
	}
	switch {
	case r.Prefix == "" && r.Location == "":
		return Source{}, errors.New("neither prefix nor location is set")
	case r.Prefix == "":
		r.Prefix = r.Location
	default:
		if r.Prefix, err = cleanLocation(r.Prefix); err != nil {
			return Source{}, err
		}
		if !strings.HasPrefix(r.Prefix, "*.") && r.Location == "" {
			return Source{}, fmt.Errorf("prefix %q has no location (only a wildcard prefix *.example.com may omit it)", r.Prefix)
		}
	}
	if strings.HasPrefix(r.Prefix, "*.") && strings.ContainsAny(r.Prefix, "/@:") {
		return Source{}, fmt.Errorf("wildcard prefix %q: it must be *.example.com, without a port, path or digest", r.Prefix)
	}
	if r.PullFromMirror != "" {
		return Source{}, fmt.Errorf("prefix %q: pull-from-mirror belongs to a [[registry.mirror]], not to the registry", r.Prefix)
	}
	s := Source{Prefix: r.Prefix, Blocked: r.Blocked}
	if r.Location != r.Prefix {
		s.Location = r.Location
	}
	if s.Blocked {
		s.BlockedBy = OriginRegistriesConf
	}
	for j := range r.Mirrors {
		m := &r.Mirrors[j]
		if m.Location, err = cleanLocation(m.Location); err != nil {
			return Source{}, fmt.Errorf("mirror #%d: %w", j+1, err)
		}
		if m.Location == "" {
			return Source{}, fmt.Errorf("prefix %q: mirror #%d has no location", r.Prefix, j+1)
		}
		pf := All
		switch m.PullFromMirror {
		case "", pullFromAll:
		case pullFromDigest:
			pf = DigestOnly
		case pullFromTag:
			pf = TagOnly
		default:
			return Source{}, fmt.Errorf("mirror %q: pull-from-mirror %q: want %q, %q or %q", m.Location, m.PullFromMirror, pullFromAll, pullFromDigest, pullFromTag)
		}
		if r.MirrorByDigestOnly {
			if m.PullFromMirror != "" {
				return Source{}, fmt.Errorf("prefix %q sets mirror-by-digest-only and mirror %q sets pull-from-mirror: containers/image allows one or the other", r.Prefix, m.Location)
			}
			pf = DigestOnly
		}
		s.Mirrors = append(s.Mirrors, Mirror{Location: m.Location, PullFrom: pf, Origin: OriginRegistriesConf})
	}
	return s, nil
}

// cleanLocation drops trailing slashes and refuses a URL scheme, as containers/image's
// parseLocation does.
func cleanLocation(in string) (string, error) {
	out := strings.TrimRight(in, "/")
	if strings.HasPrefix(out, "http://") || strings.HasPrefix(out, "https://") {
		return "", fmt.Errorf("location %q: URL schemes are not allowed, write host[:port][/path]", in)
	}
	return out, nil
}

// checkConflicts refuses two entries for one location (or wildcard prefix) that disagree
// on blocked or insecure, as containers/image does.
func checkConflicts(regs []confRegistry) error {
	first := map[string]*confRegistry{}
	for i := range regs {
		r := &regs[i]
		key := r.Location
		if key == "" {
			key = r.Prefix
		}
		other, ok := first[key]
		if !ok {
			first[key] = r
			continue
		}
		switch {
		case other.Blocked != r.Blocked:
			return fmt.Errorf("registry %q is defined more than once with conflicting 'blocked' settings", key)
		case other.Insecure != r.Insecure:
			return fmt.Errorf("registry %q is defined more than once with conflicting 'insecure' settings", key)
		}
	}
	return nil
}

// tomlError keeps the decoder's message and line, without its "toml: " prefix.
func tomlError(err error) error {
	var perr toml.ParseError
	if errors.As(err, &perr) {
		return fmt.Errorf("line %d: %s", perr.Position.Line, perr.Message)
	}
	return errors.New(strings.TrimPrefix(err.Error(), "toml: "))
}
