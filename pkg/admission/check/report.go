package check

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/pullguard/pullguard/pkg/admission/decision"
	"github.com/pullguard/pullguard/pkg/admission/manifest"
)

// verdict is what admission would do with an object.
type verdict string

const (
	denied   verdict = "denied"
	patched  verdict = "patched"
	warned   verdict = "admitted with warnings"
	admitted verdict = "admitted"
	skipped  verdict = "skipped"
)

// report is the result of a check. Its JSON form is SPEC section 2's.
type report struct {
	// Objects are in input order, skipped ones included: JSON lists them where they are,
	// text after the decided ones.
	Objects []objectReport `json:"objects"`
}

type objectReport struct {
	Kind      string                   `json:"kind"`
	Namespace string                   `json:"namespace"`
	Name      string                   `json:"name"`
	Images    []decision.ImageDecision `json:"images"`
	Patch     []decision.PatchOp       `json:"patch"`
	// Skipped marks an object of a pullguard.io/mode=off namespace: admission leaves it
	// alone, so it has no images or patch.
	Skipped bool `json:"skipped,omitempty"`

	where    string
	verdict  verdict
	warnings []string
}

// skip records an object of a mode=off namespace, which admission never looks at.
func (r *report) skip(obj manifest.Object, d *decision.Decision) {
	r.Objects = append(r.Objects, objectReport{
		Kind: d.Kind, Namespace: d.Namespace, Name: d.Name,
		Images: []decision.ImageDecision{}, Patch: []decision.PatchOp{},
		Skipped: true, where: obj.Where(), verdict: skipped,
	})
}

// add records a decided object with the verdict admission would give it under p. An
// undecided image is the failure policy's to settle, and only where admission can deny
// (Pods and BuildConfigs in enforce mode): fail-closed denies, fail-open warns.
func (r *report) add(obj manifest.Object, d *decision.Decision, p decision.Policy) {
	if p.Mode == decision.Off {
		r.skip(obj, d)
		return
	}
	o := objectReport{
		Kind: d.Kind, Namespace: d.Namespace, Name: d.Name,
		Images: d.Images, Patch: d.Patch,
		where: obj.Where(), warnings: append(p.Warnings, d.Notes...),
	}
	if o.Images == nil {
		o.Images = []decision.ImageDecision{}
	}
	if o.Patch == nil {
		o.Patch = []decision.PatchOp{}
	}
	mutating := d.Kind == "Pod" || d.Kind == "BuildConfig"
	failed := len(d.Failed()) > 0
	undecided := len(d.Undecided()) > 0
	enforced := mutating && p.Mode == decision.Enforce
	switch {
	case enforced && (failed || undecided && p.FailurePolicy == decision.FailClosed):
		o.verdict = denied
	case failed || undecided:
		o.verdict = warned
	case len(d.Patch) > 0:
		o.verdict = patched
	case len(d.Local()) > 0:
		o.verdict = warned // admission warns that the image must already be on the node
	default:
		o.verdict = admitted
	}
	r.Objects = append(r.Objects, o)
}

func (r *report) denied() bool {
	for _, o := range r.Objects {
		if o.verdict == denied {
			return true
		}
	}
	return false
}

func (r *report) writeJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(r)
}

// writeText prints one block per object: its verdict, then one line per image with the
// outcome and the message, the patch if any, then a summary.
func (r *report) writeText(w io.Writer) error {
	width := len("warning")
	for _, o := range r.Objects {
		for _, img := range o.Images {
			width = max(width, len(img.Outcome))
		}
	}
	var b strings.Builder
	for _, o := range r.Objects {
		if o.Skipped {
			continue
		}
		fmt.Fprintf(&b, "%s %s (%s): %s\n", o.Kind, qualified(o.Namespace, o.Name), o.where, o.verdict)
		for _, warning := range o.warnings {
			fmt.Fprintf(&b, "  %-*s  %s\n", width, "warning", warning)
		}
		for _, img := range o.Images {
			fmt.Fprintf(&b, "  %-*s  %s\n", width, img.Outcome, img.Message)
		}
		if len(o.Patch) > 0 {
			patch, err := json.Marshal(o.Patch)
			if err != nil {
				return err
			}
			fmt.Fprintf(&b, "  %-*s  %s\n", width, "patch", patch)
		}
	}
	for _, o := range r.Objects {
		if !o.Skipped {
			continue
		}
		fmt.Fprintf(&b, "%s %s (%s): %s (%s=off)\n", o.Kind, qualified(o.Namespace, o.Name), o.where, o.verdict, decision.ModeLabel)
	}
	b.WriteString(r.summary() + "\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func (r *report) summary() string {
	images := map[decision.Outcome]int{}
	verdicts := map[verdict]int{}
	total := 0
	for _, o := range r.Objects {
		verdicts[o.verdict]++
		for _, img := range o.Images {
			images[img.Outcome]++
			total++
		}
	}
	var outcomes, results []string
	for _, oc := range decision.Outcomes {
		if n := images[oc]; n > 0 {
			outcomes = append(outcomes, fmt.Sprintf("%d %s", n, oc))
		}
	}
	for _, v := range []verdict{denied, warned, patched, admitted, skipped} {
		if n := verdicts[v]; n > 0 {
			results = append(results, fmt.Sprintf("%d %s", n, v))
		}
	}
	s := fmt.Sprintf("%s, %s", plural(len(r.Objects), "object"), plural(total, "image"))
	if len(outcomes) > 0 {
		s += " (" + strings.Join(outcomes, ", ") + ")"
	}
	if len(results) > 0 {
		s += ": " + strings.Join(results, ", ")
	}
	return s
}

func plural(n int, noun string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", noun)
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func qualified(ns, name string) string {
	if ns == "" {
		return name
	}
	return ns + "/" + name
}
