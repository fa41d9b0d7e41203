package mirrors

import (
	"cmp"
	"errors"
	"fmt"
	"regexp"
	"slices"
)

// The mirror set kinds OpenShift's machine-config operator writes into every node's
// registries.conf.
const (
	KindImageDigestMirrorSet     = "ImageDigestMirrorSet"     // config.openshift.io/v1
	KindImageTagMirrorSet        = "ImageTagMirrorSet"        // config.openshift.io/v1
	KindImageContentSourcePolicy = "ImageContentSourcePolicy" // operator.openshift.io/v1alpha1, digests only
)

// MirrorSourcePolicy is a mirror set's mirrorSourcePolicy.
type MirrorSourcePolicy string

const (
	AllowContactingSource MirrorSourcePolicy = "AllowContactingSource"
	NeverContactSource    MirrorSourcePolicy = "NeverContactSource"
)

// MirrorSet is an ImageDigestMirrorSet, ImageTagMirrorSet or ImageContentSourcePolicy as the
// API serves it, decodable with encoding/json; only what decides a pull is kept.
type MirrorSet struct {
	APIVersion string        `json:"apiVersion"`
	Kind       string        `json:"kind"`
	Metadata   MirrorSetMeta `json:"metadata"`
	Spec       MirrorSetSpec `json:"spec"`
}

// MirrorSetMeta is the part of a mirror set's metadata that names it.
type MirrorSetMeta struct {
	Name string `json:"name"`
}

// MirrorSetSpec holds the spec fields of the three kinds; a set uses its kind's.
type MirrorSetSpec struct {
	ImageDigestMirrors      []ImageMirrors `json:"imageDigestMirrors,omitempty"`
	ImageTagMirrors         []ImageMirrors `json:"imageTagMirrors,omitempty"`
	RepositoryDigestMirrors []ImageMirrors `json:"repositoryDigestMirrors,omitempty"`
}

// ImageMirrors is one source and its mirrors. ImageContentSourcePolicy has no
// mirrorSourcePolicy.
type ImageMirrors struct {
	Source             string             `json:"source"`
	Mirrors            []string           `json:"mirrors,omitempty"`
	MirrorSourcePolicy MirrorSourcePolicy `json:"mirrorSourcePolicy,omitempty"`
}

// Origin names the set for messages: "ImageDigestMirrorSet ubi-mirror".
func (s *MirrorSet) Origin() string { return s.Kind + " " + s.Metadata.Name }

// entries returns the set's entries and whether they mirror digests (else tags); nil for
// a kind that is not a mirror set.
func (s *MirrorSet) entries() ([]ImageMirrors, bool) {
	switch s.Kind {
	case KindImageDigestMirrorSet:
		return s.Spec.ImageDigestMirrors, true
	case KindImageContentSourcePolicy:
		return s.Spec.RepositoryDigestMirrors, true
	case KindImageTagMirrorSet:
		return s.Spec.ImageTagMirrors, false
	}
	return nil, false
}

// kindOrder orders the kinds the way the machine-config operator adds them to a
// registries.conf entry: digest mirrors (ImageDigestMirrorSet, then the legacy
// ImageContentSourcePolicy) before tag mirrors.
func kindOrder(kind string) int {
	switch kind {
	case KindImageDigestMirrorSet:
		return 0
	case KindImageContentSourcePolicy:
		return 1
	case KindImageTagMirrorSet:
		return 2
	}
	return 3
}

// byKindAndName returns pointers to the sets ordered by kind, then name: the order in which
// the machine-config operator reads them, so results do not depend on the input's order.
func byKindAndName(sets []MirrorSet) []*MirrorSet {
	sorted := make([]*MirrorSet, 0, len(sets))
	for i := range sets {
		sorted = append(sorted, &sets[i])
	}
	slices.SortStableFunc(sorted, func(a, b *MirrorSet) int {
		if c := cmp.Compare(kindOrder(a.Kind), kindOrder(b.Kind)); c != 0 {
			return c
		}
		return cmp.Compare(a.Metadata.Name, b.Metadata.Name)
	})
	return sorted
}

// FromMirrorSets returns the registries.conf entries the machine-config operator writes
// for the sets (openshift/runtime-utils pkg/registries EditRegistriesConfig):
//   - a set entry whose mirrors are empty or only the source itself is ignored, its
//     mirrorSourcePolicy included;
//   - the entries for one source merge across sets and kinds of a group (digest:
//     ImageDigestMirrorSet and ImageContentSourcePolicy; tag: ImageTagMirrorSet) into one
//     mirror list ordered to respect every set's order where possible (a topological
//     order, ties and cycles broken by name), the source dropped when it comes last;
//   - one entry per source: its digest mirrors (DigestOnly), then its tag mirrors
//     (TagOnly); blocked when any of its sets says NeverContactSource.
//
// The result does not depend on the order of sets. Each mirror's Origin names the first
// set, by kind then name, that lists it for that source; BlockedBy the first that blocks.
// Sets the operator refuses still produce entries: ValidateMirrorSets says which.
func FromMirrorSets(sets []MirrorSet) []Source {
	sorted := byKindAndName(sets)
	digests, tags := newMirrorGroup(DigestOnly), newMirrorGroup(TagOnly)
	for _, set := range sorted {
		entries, digest := set.entries()
		group := tags
		if digest {
			group = digests
		}
		for _, e := range entries {
			policy := e.MirrorSourcePolicy
			if set.Kind == KindImageContentSourcePolicy {
				policy = "" // the legacy kind has no policy: the source stays reachable
			}
			group.add(set.Origin(), e.Source, e.Mirrors, policy)
		}
	}
	var out []Source
	index := map[string]int{}
	for _, group := range []*mirrorGroup{digests, tags} {
		for _, source := range group.sources() {
			i, ok := index[source]
			if !ok {
				i = len(out)
				index[source] = i
				out = append(out, Source{Prefix: source})
			}
			s := &out[i]
			if by, blocked := group.blockedBy[source]; blocked && !s.Blocked {
				s.Blocked, s.BlockedBy = true, by
			}
			for _, m := range orderMirrors(source, group.lists[source]) {
				s.Mirrors = append(s.Mirrors, Mirror{Location: m, PullFrom: group.pullFrom, Origin: group.origin[source][m]})
			}
		}
	}
	return out
}

// mirrorGroup gathers the entries of the kinds that merge (runtime-utils' mirrorSets).
type mirrorGroup struct {
	pullFrom  PullFrom
	lists     map[string][][]string
	origin    map[string]map[string]string // source -> mirror -> first set listing it
	blockedBy map[string]string
}

func newMirrorGroup(pf PullFrom) *mirrorGroup {
	return &mirrorGroup{pullFrom: pf, lists: map[string][][]string{}, origin: map[string]map[string]string{}, blockedBy: map[string]string{}}
}

func (g *mirrorGroup) add(origin, source string, mirrors []string, policy MirrorSourcePolicy) {
	if !slices.ContainsFunc(mirrors, func(m string) bool { return m != source }) {
		return
	}
	if policy == NeverContactSource {
		if _, ok := g.blockedBy[source]; !ok {
			g.blockedBy[source] = origin
		}
	}
	g.lists[source] = append(g.lists[source], mirrors)
	if g.origin[source] == nil {
		g.origin[source] = map[string]string{}
	}
	for _, m := range mirrors {
		if _, ok := g.origin[source][m]; !ok {
			g.origin[source][m] = origin
		}
	}
}

func (g *mirrorGroup) sources() []string {
	out := make([]string, 0, len(g.lists))
	for s := range g.lists {
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

// orderMirrors merges the mirror lists of one source into one order that keeps each list's
// order where the lists agree: every list adds edges between consecutive mirrors, and from
// its last mirror to the source unless it lists the source itself. The source is dropped
// when it comes last, as it is tried last anyway.
func orderMirrors(source string, lists [][]string) []string {
	var edges [][2]string
	for _, list := range lists {
		for i := 0; i+1 < len(list); i++ {
			edges = append(edges, [2]string{list[i], list[i+1]})
		}
		if !slices.Contains(list, source) {
			edges = append(edges, [2]string{list[len(list)-1], source})
		}
	}
	out := topologicalOrder(edges)
	if len(out) > 0 && out[len(out)-1] == source {
		out = out[:len(out)-1]
	}
	return out
}

// topologicalOrder returns the nodes of a graph in an order that respects its edges where
// it can, deterministically: nodes without predecessors start in name order, each node's
// successors that it frees join the queue in name order, and a cycle is broken at the first
// unused node by name.
func topologicalOrder(edges [][2]string) []string {
	type node struct {
		name string
		used bool
		ins  map[*node]bool
		outs map[*node]bool
	}
	nodes := map[string]*node{}
	get := func(name string) *node {
		n, ok := nodes[name]
		if !ok {
			n = &node{name: name, ins: map[*node]bool{}, outs: map[*node]bool{}}
			nodes[name] = n
		}
		return n
	}
	for _, e := range edges {
		from, to := get(e[0]), get(e[1])
		from.outs[to] = true
		to.ins[from] = true
	}
	all := make([]*node, 0, len(nodes))
	for _, n := range nodes {
		all = append(all, n)
	}
	byName := func(a, b *node) int { return cmp.Compare(a.name, b.name) }
	slices.SortFunc(all, byName)
	var ready []*node
	for _, n := range all {
		if len(n.ins) == 0 {
			ready = append(ready, n)
		}
	}
	out := make([]string, 0, len(all))
	next := 0 // the cycle breaker's place in all
	for len(ready) > 0 || next < len(all) {
		var n *node
		if len(ready) > 0 {
			n, ready = ready[0], ready[1:]
		} else {
			n = all[next]
			next++
			if n.used {
				continue
			}
		}
		n.used = true
		out = append(out, n.name)
		var freed []*node
		for succ := range n.outs {
			delete(succ.ins, n)
			if len(succ.ins) == 0 && !succ.used {
				freed = append(freed, succ)
			}
		}
		slices.SortFunc(freed, byName)
		ready = append(ready, freed...)
	}
	return out
}

// The machine-config operator's grammar of sources and mirrors: host[:port][/path], each
// path component lower-case alphanumerics joined by '.', '_', "__" or dashes; a source may
// instead be a wildcard *.example.com.
var (
	hostLabel     = `(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])`
	pathComponent = `/[a-z0-9]+(?:(?:[._]|__|-*)[a-z0-9]+)*`
	scopeGrammar  = hostLabel + `(?:\.` + hostLabel + `)*(?::[0-9]+)?(?:` + pathComponent + `)*`
	mirrorGrammar = regexp.MustCompile(`^` + scopeGrammar + `$`)
	sourceGrammar = regexp.MustCompile(`^(?:\*(?:\.` + hostLabel + `)+|` + scopeGrammar + `)$`)
)

// ValidateMirrorSets reports what makes the machine-config operator refuse the sets as a
// whole (its validateRegistriesConfScopes): a source or mirror outside its grammar, sources
// given different mirrorSourcePolicy values (an ImageContentSourcePolicy counts as
// AllowContactingSource), or NeverContactSource with the source among its own mirrors.
// Nodes then keep the registries.conf they had, which FromMirrorSets cannot know. A kind
// that is not a mirror set is reported too. Every fault is listed; errors.Is(err,
// ErrRefusedByMCO) holds for them.
func ValidateMirrorSets(sets []MirrorSet) error {
	sorted := byKindAndName(sets)
	type policyOf struct {
		policy MirrorSourcePolicy
		origin string
	}
	policies := map[string]policyOf{}
	var errs []error
	fault := func(set *MirrorSet, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s: %w", set.Origin(), fmt.Sprintf(format, args...), ErrRefusedByMCO))
	}
	for _, set := range sorted {
		if kindOrder(set.Kind) > 2 {
			errs = append(errs, fmt.Errorf("%s: not a mirror set kind (want %s, %s or %s)", set.Origin(), KindImageDigestMirrorSet, KindImageTagMirrorSet, KindImageContentSourcePolicy))
			continue
		}
		entries, _ := set.entries()
		for _, e := range entries {
			if !sourceGrammar.MatchString(e.Source) {
				fault(set, "invalid source %q", e.Source)
			}
			policy := e.MirrorSourcePolicy
			if policy == "" || set.Kind == KindImageContentSourcePolicy {
				policy = AllowContactingSource
			}
			if p, ok := policies[e.Source]; !ok {
				policies[e.Source] = policyOf{policy, set.Origin()}
			} else if p.policy != policy {
				fault(set, "mirrorSourcePolicy %s for source %q, but %s sets %s", policy, e.Source, p.origin, p.policy)
			}
			for _, m := range e.Mirrors {
				if !mirrorGrammar.MatchString(m) {
					fault(set, "invalid mirror %q", m)
				}
				if policy == NeverContactSource && m == e.Source {
					fault(set, "NeverContactSource for source %q, which is one of its own mirrors", e.Source)
				}
			}
		}
	}
	return errors.Join(errs...)
}

// ErrRefusedByMCO marks the faults for which the machine-config operator refuses the
// mirror sets.
var ErrRefusedByMCO = errors.New("the machine-config operator refuses the mirror sets and leaves every node's registries.conf as it was")
