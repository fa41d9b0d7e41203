package decision

import (
	"fmt"
	"strings"
)

// MaxWarningLength is what a warning is kept under where possible: once the warnings of
// one response pass 4 KiB, the API server truncates each to 256 characters, which would
// cut a fix command in half.
const MaxWarningLength = 256

// WarningPrefix starts every admission warning pullguard gives, so kubectl's
// "Warning: ..." lines say where they come from.
const WarningPrefix = "pullguard: "

// advice is an image's failure said short and fix first, for warnings. Images whose fix
// reads the same (one registry, one namespace, one reason) share one warning.
type advice struct {
	// fix is what to do, with the command when there is one; "" when the image pulls.
	fix string
	// reason says why, when there is room.
	reason string
}

// Warnings returns the admission warnings of images that fail, are undecided or are not
// pulled: one per fix, naming every place that needs it, fix first, under
// MaxWarningLength where possible. Images with nothing to fix give none.
func Warnings(images []ImageDecision) []string {
	type group struct {
		advice advice
		places []place
	}
	var groups []*group
	byFix := map[string]*group{}
	var out []string
	for _, img := range images {
		a := img.advice
		if a.fix == "" {
			if img.Message != "" && (img.Outcome.Fails() || img.Outcome == Indeterminate || img.Outcome == Local) {
				groups = append(groups, &group{advice: advice{fix: img.Message}}) // worded elsewhere: kept whole
			}
			continue
		}
		g := byFix[a.fix]
		if g == nil {
			g = &group{advice: a}
			byFix[a.fix] = g
			groups = append(groups, g)
		} else if g.advice.reason == "" {
			g.advice.reason = a.reason
		}
		g.places = append(g.places, img.place)
	}
	for _, g := range groups {
		out = append(out, warning(g.advice, g.places))
	}
	return out
}

// PrefixWarning marks a warning as pullguard's, once.
func PrefixWarning(w string) string {
	if strings.HasPrefix(w, WarningPrefix) {
		return w
	}
	return WarningPrefix + w
}

// warning renders one advice: "pullguard: FIX (PLACES; REASON)". What does not fit goes:
// first the reason's later clauses, then the reason, then places beyond the first few.
func warning(a advice, places []place) string {
	head := WarningPrefix + a.fix
	if len(places) == 0 {
		return head
	}
	if a.reason != "" {
		// The whole reason, else its first clause.
		first, _, _ := strings.Cut(a.reason, "; ")
		for _, reason := range []string{a.reason, first} {
			if w := head + " (" + placeList(places, len(places)) + "; " + reason + ")"; len(w) <= MaxWarningLength {
				return w
			}
		}
	}
	for shown := len(places); shown >= 1; shown-- {
		w := head + " (" + placeList(places, shown) + ")"
		if len(w) <= MaxWarningLength || shown == 1 {
			return w
		}
	}
	return head
}

// placeList names places grouped by kind in order of appearance, `containers "a", "b",
// init container "c"`, the first shown of them, then how many more.
func placeList(places []place, shown int) string {
	var kinds []placeKind
	names := map[placeKind][]string{}
	for _, p := range places[:shown] {
		if _, ok := names[p.kind]; !ok {
			kinds = append(kinds, p.kind)
		}
		names[p.kind] = append(names[p.kind], p.name)
	}
	var parts []string
	for _, k := range kinds {
		parts = append(parts, kindNames(k, names[k]))
	}
	s := strings.Join(parts, ", ")
	if more := len(places) - shown; more > 0 {
		s += fmt.Sprintf(" and %d more", more)
	}
	return s
}

func kindNames(k placeKind, names []string) string {
	if k == inBuild {
		return strings.Join(names, ", ")
	}
	noun := map[placeKind]string{inInitContainer: "init container", inEphemeralContainer: "ephemeral container", inImageVolume: "image volume"}[k]
	if noun == "" {
		noun = "container"
	}
	if len(names) > 1 {
		noun += "s"
	}
	quoted := make([]string, len(names))
	for i, n := range names {
		quoted[i] = quote(n)
	}
	return noun + " " + strings.Join(quoted, ", ")
}
