package decision

import "fmt"

// The OpenShift image registry authorizes a pull of <host>/<project>/<stream> by asking the
// API server whether the token's user may get imagestreams/layers in <project>, and a push
// by update on the same; these name that resource.
const (
	ImageAPIGroup       = "image.openshift.io"
	ImageStreamResource = "imagestreams"
	LayersSubresource   = "layers"
)

// AccessQuestion asks whether a service account may pull from (get) or push to (update)
// a project of the internal registry. It is a fact the decision needs, like a probe: the
// decision lists its questions in Decision.Questions, the admission step asks the API
// server (a SubjectAccessReview) and gives the answers back in Facts.Answers.
type AccessQuestion struct {
	// Namespace and ServiceAccount name the account whose token the registry sees.
	Namespace      string
	ServiceAccount string
	// Project is the namespace of the image stream.
	Project string
	// Verb is "get" (pull) or "update" (push).
	Verb string
}

// User is the account's user name, as its token authenticates.
func (q AccessQuestion) User() string {
	return "system:serviceaccount:" + q.Namespace + ":" + q.ServiceAccount
}

// Groups are the groups every service account token carries, so that bindings to them
// count: every project binds system:image-puller to its own system:serviceaccounts:<ns>.
func (q AccessQuestion) Groups() []string {
	return []string{"system:serviceaccounts", "system:serviceaccounts:" + q.Namespace, "system:authenticated"}
}

// push reports whether the question is about pushing.
func (q AccessQuestion) push() bool { return q.Verb == "update" }

// action words what the question asks, for messages: "pull from" or "push to".
func (q AccessQuestion) action() string {
	if q.push() {
		return "push to"
	}
	return "pull from"
}

func (q AccessQuestion) String() string {
	return fmt.Sprintf("%s %s/%s in %q for %s", q.Verb, ImageStreamResource, LayersSubresource, q.Project, q.User())
}

// AccessStatus is the kind of an answer.
type AccessStatus int

const (
	// AccessAllowed: the API server allows it.
	AccessAllowed AccessStatus = iota
	// AccessRefused: the API server does not allow it; the registry will refuse.
	AccessRefused
	// AccessUnavailable: the question could not be asked (API server error, no answer in
	// time); the namespace's failure policy decides.
	AccessUnavailable
	// AccessNotChecked: nothing could tell (`webhook check` offline, with no RBAC objects
	// in its input): the rule is reported as not checked, never failed.
	AccessNotChecked
)

// AccessAnswer is the answer to one question.
type AccessAnswer struct {
	Status AccessStatus
	// Reason says why, for messages: the authorizer's reason, or what went wrong.
	Reason string
}

// Answers are access answers by question, given back to the decision after its Questions
// were asked.
type Answers map[AccessQuestion]AccessAnswer

// maxAccessQuestions bounds the accounts one image's credentials are asked about: a pod
// rarely lists more than one internal-registry credential, and a list of a hundred must not
// become a hundred reviews.
const maxAccessQuestions = 4

// access looks answers up and lists the questions a decision still needs, as verifier does
// for probes: in the first round (no answers yet) every question, answered as allowed for
// now; in later rounds those still unanswered, which count as unavailable.
type access struct {
	answers   Answers
	questions []AccessQuestion
	seen      map[AccessQuestion]bool
}

// planning reports whether the decision is only listing questions.
func (a *access) planning() bool { return a.answers == nil }

func (a *access) answer(q AccessQuestion) AccessAnswer {
	if ans, ok := a.answers[q]; ok {
		return ans
	}
	if !a.seen[q] {
		if a.seen == nil {
			a.seen = map[AccessQuestion]bool{}
		}
		a.seen[q] = true
		a.questions = append(a.questions, q)
	}
	if a.planning() {
		return AccessAnswer{Status: AccessAllowed}
	}
	return AccessAnswer{Status: AccessUnavailable, Reason: "no answer from the API server in time"}
}

// anyAllowed asks the questions in order, until one is allowed. It returns the answers
// before that one, or every answer with allowed false.
func (a *access) anyAllowed(qs []AccessQuestion) (allowed bool, answers []AccessAnswer) {
	for i, q := range qs {
		if i == maxAccessQuestions {
			break
		}
		ans := a.answer(q)
		if ans.Status == AccessAllowed {
			return true, answers
		}
		answers = append(answers, ans)
	}
	return false, answers
}
