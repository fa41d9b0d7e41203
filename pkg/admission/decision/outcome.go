package decision

import "strings"

// Outcome is what happens to one image, as SPEC section 2 names them.
type Outcome string

const (
	// Covered: a secret already on the object (or its service account) matches.
	Covered Outcome = "covered"
	// Node: the nodes' own credentials match.
	Node Outcome = "node"
	// Injected: a namespace secret matches and pullguard adds it.
	Injected Outcome = "injected"
	// Anonymous: nothing matches and none is needed.
	Anonymous Outcome = "anonymous"
	// Missing: nothing matches and the registry needs a credential.
	Missing Outcome = "missing"
	// Rejected: the pull will fail for a reason pullguard knows (a malformed secret on the
	// pod, an invalid reference; with verification, refused credentials or a missing tag).
	Rejected Outcome = "rejected"
	// Indeterminate: pullguard could not decide.
	Indeterminate Outcome = "indeterminate"
	// Local: imagePullPolicy Never; the kubelet does not pull, so credentials never deny it.
	Local Outcome = "local"
)

// Outcomes lists every outcome, for metrics and documentation.
var Outcomes = []Outcome{Covered, Node, Injected, Anonymous, Missing, Rejected, Indeterminate, Local}

// Fails reports whether the outcome means the image will not pull.
func (o Outcome) Fails() bool { return o == Missing || o == Rejected }

// ImageDecision is the decision for one image reference of an object. Its JSON form is the
// per-image document of `webhook check -o json`.
type ImageDecision struct {
	// Container names where the image is used: a container, init or ephemeral container,
	// an image volume, or for builds the field (spec.output.to).
	Container  string   `json:"container"`
	Image      string   `json:"image"`
	Registry   string   `json:"registry"`
	Repository string   `json:"repository"`
	Outcome    Outcome  `json:"outcome"`
	Secret     string   `json:"secret"`
	Candidates []string `json:"candidates"`
	Message    string   `json:"message"`
	// Endpoints are where the runtime pulls a mirrored image from, in its order, each with
	// the credential it uses there (mirror.go); absent when no mirror configuration applies.
	Endpoints []Endpoint `json:"endpoints,omitempty"`

	place place
	// advice is the short, fix-first form of Message for admission warnings (Warnings);
	// empty for images that pull.
	advice advice
}

// PatchOp is one JSON patch (RFC 6902) operation.
type PatchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value,omitempty"`
}

// Decision is the outcome for a whole object.
type Decision struct {
	Kind      string
	Namespace string
	Name      string
	// Images holds one entry per image reference, in the object's order.
	Images []ImageDecision
	// Patch injects the secrets the decision chose; empty when nothing needs injecting.
	// Workloads never get a patch.
	Patch []PatchOp
	// Notes are object-level remarks (a malformed namespace secret that was skipped).
	Notes []string
	// Probes lists the registry probes the decision needs, when Facts.Verify is set and
	// Facts.Verdicts is not: run them, put the answers in Verdicts and decide again.
	Probes []ProbeRequest
	// Questions lists the access questions (SubjectAccessReviews) the decision needs for
	// internal-registry images, when Facts.Answers is nil or lacks them: ask them, put the
	// answers in Answers and decide again.
	Questions []AccessQuestion
	// AwaitDockercfg names the service accounts (of the pod's namespace) that name no
	// dockercfg secret for the internal registry yet, when Facts.DockercfgWaited is unset:
	// wait a moment for them to name one, set DockercfgWaited and decide again.
	AwaitDockercfg []string
}

// Undecided returns the images pullguard could not decide.
func (d *Decision) Undecided() []ImageDecision {
	var out []ImageDecision
	for _, img := range d.Images {
		if img.Outcome == Indeterminate {
			out = append(out, img)
		}
	}
	return out
}

// Failed returns the images that will not pull.
func (d *Decision) Failed() []ImageDecision {
	var out []ImageDecision
	for _, img := range d.Images {
		if img.Outcome.Fails() {
			out = append(out, img)
		}
	}
	return out
}

// Local returns the images the kubelet does not pull (imagePullPolicy Never): admitted, with
// a warning that they must already be on the node.
func (d *Decision) Local() []ImageDecision {
	var out []ImageDecision
	for _, img := range d.Images {
		if img.Outcome == Local {
			out = append(out, img)
		}
	}
	return out
}

// Count returns how many images have the outcome.
func (d *Decision) Count(o Outcome) int {
	n := 0
	for _, img := range d.Images {
		if img.Outcome == o {
			n++
		}
	}
	return n
}

// Denial returns the rejection message: one line per failing image, "" when none fails.
func (d *Decision) Denial() string {
	var lines []string
	for _, img := range d.Failed() {
		lines = append(lines, img.Message)
	}
	return strings.Join(lines, "\n")
}
