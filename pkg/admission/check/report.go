package check

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/pullguard/pullguard/pkg/admission/decision"
	"github.com/pullguard/pullguard/pkg/admission/manifest"
)

// verdict is what admission would do with an object; its JSON names are SPEC section 2's.
type verdict string

const (
	denied verdict = "denied"
	// podsDenied: a workload the API server admits (with warnings) whose pods it would deny.
	podsDenied verdict = "pods-denied"
	warned     verdict = "warned"
	patched    verdict = "patched"
	admitted   verdict = "admitted"
	skipped    verdict = "skipped"
)

// verdicts in the order the summary counts them.
var verdicts = []verdict{denied, podsDenied, warned, patched, admitted, skipped}

// text is how the text report words a verdict after an object; summary, in its last line.
func (v verdict) text() string {
	switch v {
	case warned:
		return "admitted with warnings"
	case podsDenied:
		return "pods would be denied"
	}
	return string(v)
}

func (v verdict) summary() string {
	switch v {
	case warned:
		return "admitted with warnings"
	case podsDenied:
		return "whose pods would be denied"
	}
	return string(v)
}

// Report identity: the JSON and YAML documents carry it so their format can evolve.
const (
	ReportAPIVersion = "pullguard.io/v1alpha1"
	ReportKind       = "CheckReport"
)

// report is the result of a check. Its JSON form is SPEC section 2's.
type report struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	// Objects are in input order, skipped ones included: JSON lists them where they are,
	// text after the decided ones.
	Objects []objectReport `json:"objects"`

	// verified: the registries were asked (--verify); else an anonymous outcome is a guess.
	verified bool
}

func newReport(verified bool) *report {
	return &report{APIVersion: ReportAPIVersion, Kind: ReportKind, Objects: []objectReport{}, verified: verified}
}

type objectReport struct {
	Kind      string  `json:"kind"`
	Namespace string  `json:"namespace"`
	Name      string  `json:"name"`
	Verdict   verdict `json:"verdict"`
	Source    source  `json:"source"`
	// Warnings are the admission warnings the API server would show for the object.
	Warnings []string                 `json:"warnings"`
	Images   []decision.ImageDecision `json:"images"`
	Patch    []decision.PatchOp       `json:"patch"`
	// Skipped marks an object of a pullguard.io/mode=off namespace: admission leaves it
	// alone, so it has no images or patch.
	Skipped bool `json:"skipped,omitempty"`

	where string
	// notes are the warnings that are not about one image (namespace labels, skipped
	// secrets): the text report prints them; image warnings are on the image lines.
	notes []string
	// podsDenied says why a workload's pods would be denied.
	podsDenied string
}

// source is where an object came from: a file (or URL, or "-" for stdin), its document
// (1-based) and, in a kind: List, its item (0-based); or the cluster.
type source struct {
	File     string `json:"file,omitempty"`
	Document int    `json:"document,omitempty"`
	Item     *int   `json:"item,omitempty"`
	Cluster  bool   `json:"cluster,omitempty"`
}

func sourceOf(obj manifest.Object) (source, string) {
	if obj.Source == clusterSource {
		return source{Cluster: true}, "cluster"
	}
	s := source{File: obj.Source, Document: obj.Document}
	if obj.Item >= 0 {
		item := obj.Item
		s.Item = &item
	}
	return s, obj.Where()
}

func (r *report) newObject(obj manifest.Object, d *decision.Decision) objectReport {
	src, where := sourceOf(obj)
	return objectReport{
		Kind: d.Kind, Namespace: d.Namespace, Name: d.Name, Source: src, where: where,
		Warnings: []string{}, Images: []decision.ImageDecision{}, Patch: []decision.PatchOp{},
	}
}

// skip records an object of a mode=off namespace, which admission never looks at.
func (r *report) skip(obj manifest.Object, d *decision.Decision) {
	o := r.newObject(obj, d)
	o.Skipped, o.Verdict = true, skipped
	r.Objects = append(r.Objects, o)
}

// add records a decided object with the verdict admission would give it under p, and the
// warnings the API server would show (as pkg/admission/server answers). An undecided image
// is the failure policy's to settle, and only in enforce mode: fail-closed denies, fail-open
// warns. Pods and BuildConfigs are denied themselves; a workload is admitted with warnings,
// but the pods its controller creates from the template are denied.
func (r *report) add(obj manifest.Object, d *decision.Decision, p decision.Policy) {
	if p.Mode == decision.Off {
		r.skip(obj, d)
		return
	}
	o := r.newObject(obj, d)
	if d.Images != nil {
		o.Images = d.Images
	}
	if d.Patch != nil {
		o.Patch = d.Patch
	}
	if !r.verified {
		for i := range o.Images {
			if o.Images[i].Outcome == decision.Anonymous {
				o.Images[i].Message = notVerified(o.Images[i])
			}
		}
	}
	o.notes = append(append([]string{}, p.Warnings...), d.Notes...)
	failed, undecided, local := d.Failed(), d.Undecided(), d.Local()
	mutating := d.Kind == "Pod" || d.Kind == "BuildConfig"
	denies := len(failed) > 0 || len(undecided) > 0 && p.FailurePolicy == decision.FailClosed
	switch {
	case p.Mode == decision.Enforce && denies && mutating:
		o.Verdict = denied
	case p.Mode == decision.Enforce && denies:
		o.Verdict = podsDenied
		why := fmt.Sprintf("%s=%s", decision.ModeLabel, p.Mode)
		if len(failed) == 0 {
			why = fmt.Sprintf("%s=%s: what cannot be verified is denied", decision.FailurePolicyLabel, p.FailurePolicy)
		}
		o.podsDenied = fmt.Sprintf("pods of %s %s would be denied (namespace %q: %s)", d.Kind, qualified(d.Namespace, d.Name), d.Namespace, why)
	case len(failed) > 0 || len(undecided) > 0:
		o.Verdict = warned
	case len(d.Patch) > 0:
		o.Verdict = patched
	case len(local) > 0:
		o.Verdict = warned // admission warns that the image must already be on the node
	default:
		o.Verdict = admitted
	}
	// The warnings exactly as admission words them (pkg/admission/server): prefixed, one per
	// fix; a denied object's failures are the denial itself.
	warned := d.Images
	if o.Verdict == denied {
		warned = local
	}
	for _, w := range append(append([]string{}, o.notes...), decision.Warnings(warned)...) {
		o.Warnings = append(o.Warnings, decision.PrefixWarning(w))
	}
	r.Objects = append(r.Objects, o)
}

// notVerified words an anonymous outcome that no registry confirmed: nothing matched and
// nothing said the registry is private, which is not the same as knowing it is public.
func notVerified(img decision.ImageDecision) string {
	where := fmt.Sprintf("image %q", img.Image)
	if i := strings.Index(img.Message, where); i >= 0 {
		where = img.Message[:i+len(where)]
	}
	if hosts := triedHosts(img.Endpoints); len(hosts) > 0 && (len(hosts) > 1 || hosts[0] != img.Registry) {
		// Mirrored: the pull goes where the runtime sends it, not (only) to the source.
		return fmt.Sprintf("%s: not verified: no credentials match %s, where the runtime pulls it, and --private-registries lists none of them; it would be pulled anonymously", where, strings.Join(hosts, ", "))
	}
	return fmt.Sprintf("%s: not verified: no credentials match %s and --private-registries does not list it; the kubelet would pull it anonymously", where, img.Registry)
}

// triedHosts returns the hosts of the endpoints the runtime contacts, each once, in order.
func triedHosts(endpoints []decision.Endpoint) []string {
	var out []string
	for _, e := range endpoints {
		if e.Result != decision.EndpointSkipped && e.Result != decision.EndpointBlocked && !slices.Contains(out, e.Host) {
			out = append(out, e.Host)
		}
	}
	return out
}

// fails reports whether the exit code is 1: something would be denied (a workload's pods
// included) or, failing on warnings, admission would warn.
func (r *report) fails(failOn string) bool {
	for _, o := range r.Objects {
		switch {
		case o.Verdict == denied || o.Verdict == podsDenied:
			return true
		case failOn == FailOnWarn && (o.Verdict == warned || len(o.Warnings) > 0):
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

func (r *report) writeYAML(w io.Writer) error {
	out, err := yaml.Marshal(r)
	if err != nil {
		return err
	}
	_, err = w.Write(out)
	return err
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
		fmt.Fprintf(&b, "%s %s (%s): %s\n", o.Kind, qualified(o.Namespace, o.Name), o.where, o.Verdict.text())
		if o.podsDenied != "" {
			fmt.Fprintf(&b, "  %-*s  %s\n", width, "denied", o.podsDenied)
		}
		for _, note := range o.notes {
			fmt.Fprintf(&b, "  %-*s  %s\n", width, "warning", note)
		}
		for _, img := range o.Images {
			fmt.Fprintf(&b, "  %-*s  %s\n", width, img.Outcome, img.Message)
			for _, e := range img.Endpoints {
				fmt.Fprintf(&b, "  %-*s    %s\n", width, "", endpointLine(e))
			}
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
		fmt.Fprintf(&b, "%s %s (%s): %s (%s=off)\n", o.Kind, qualified(o.Namespace, o.Name), o.where, o.Verdict.text(), decision.ModeLabel)
	}
	if n := r.unverified(); n > 0 {
		fmt.Fprintf(&b, "note: %s not verified: --verify asks the registries, --private-registries names the private ones, --cluster uses the server's settings (ConfigMap %s)\n",
			plural(n, "anonymous image"), DefaultServerConfig)
	}
	b.WriteString(r.summary() + "\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// endpointLine words one endpoint of a mirrored image, under its image line: where the
// runtime goes, with whose credential, and what happened there.
//
//	via mirror mirror.corp:5000 (of registry.redhat.io/ubi9) with node:openshift-config/pull-secret: ok
//	via source registry.redhat.io: blocked
func endpointLine(e decision.Endpoint) string {
	where := "via source " + e.Host
	if e.MirrorOf != "" {
		where = fmt.Sprintf("via mirror %s (of %s)", e.Host, e.MirrorOf)
	}
	switch e.Result {
	case decision.EndpointSkipped, decision.EndpointBlocked:
		return where + ": " + string(e.Result)
	}
	with := " anonymously"
	switch {
	case strings.HasPrefix(e.Credential, "node:"):
		with = " with " + e.Credential
	case e.Credential != "":
		with = fmt.Sprintf(" with secret %q", e.Credential)
	}
	result := string(e.Result)
	if e.Result == decision.EndpointNotAsked {
		result = "not verified"
	}
	return where + with + ": " + result
}

// unverified counts the anonymous outcomes no registry confirmed.
func (r *report) unverified() int {
	if r.verified {
		return 0
	}
	n := 0
	for _, o := range r.Objects {
		for _, img := range o.Images {
			if img.Outcome == decision.Anonymous {
				n++
			}
		}
	}
	return n
}

func (r *report) summary() string {
	images := map[decision.Outcome]int{}
	count := map[verdict]int{}
	total := 0
	for _, o := range r.Objects {
		count[o.Verdict]++
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
	for _, v := range verdicts {
		if n := count[v]; n > 0 {
			results = append(results, fmt.Sprintf("%d %s", n, v.summary()))
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
