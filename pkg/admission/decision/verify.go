package decision

import (
	"fmt"
	"slices"
	"strings"

	"github.com/pullguard/pullguard/pkg/registryauth"
	"github.com/pullguard/pullguard/pkg/registryauth/mirrors"
)

// Verdicts are registry answers by probe, given back to the decision after the probes of
// its Probes ran.
type Verdicts map[registryauth.ProbeKey]registryauth.Verdict

// ProbeRequest is a probe the decision needs: the image's manifest, asked with a credential
// (nil: anonymously).
type ProbeRequest struct {
	Key        registryauth.ProbeKey
	Image      registryauth.Image
	Credential *registryauth.Credential
	// Source names where the credential comes from, for logs.
	Source string
}

// option is a credential the kubelet may use for an image: its secret (or node source)
// name, the key it matched under, and the credential (nil: anonymous).
//
// For a mirrored image an option is one attempt of the runtime (mirror.go): at is the
// endpoint it is tried at, and the credential is the kubelet's or, where CRI-O reads the
// nodes' auth file instead, the file's (authFile). Unmirrored options have no endpoint:
// they are tried at the image itself.
type option struct {
	name string
	key  string
	node bool
	cred *registryauth.Credential

	at       *mirrors.Endpoint
	authFile bool // the nodes' auth file, read by CRI-O at this endpoint
	badAuth  bool // the auth file's entry (key) cannot be decoded: CRI-O fails the attempt unasked
	provider bool // the kubelet's credential provider: pullguard has none of its tokens
	private  bool // anonymous at an endpoint --private-registries lists
}

// image is where the option is tried: its endpoint's image, else the image itself.
func (o *option) image(img registryauth.Image) registryauth.Image {
	if o.at != nil {
		return o.at.Image
	}
	return img
}

// source names where the credential comes from, in messages and logs. It is worded only
// when a message needs it: most options of most reviews are never described.
func (o option) source() string {
	switch {
	case o.node:
		return nodeSource(strings.TrimPrefix(o.name, nodePrefix))
	case o.name == "":
		return "an anonymous request"
	default:
		return secretSource(o.name)
	}
}

// verifier looks verdicts up, and lists the probes a decision still needs: in the first
// round (no verdicts yet) every probe it would like to make; in later rounds those it has no
// answer to yet, which count as unavailable until they are answered.
type verifier struct {
	on       bool
	verdicts Verdicts
	notSent  map[registryauth.ProbeKey]bool
	requests []ProbeRequest
	seen     map[registryauth.ProbeKey]bool
}

// askAhead bounds how many of one image's credentials are asked about before the registry
// has answered for the first: the kubelet's first choice is usually accepted, and a
// namespace with 20,000 secrets for one registry must not become 20,000 probes. Later
// rounds ask about the next ones if those were refused.
const askAhead = 4

func newVerifier(f *Facts) *verifier {
	return &verifier{on: f.Verify, verdicts: f.Verdicts, notSent: f.NotSent}
}

// planning reports whether the decision is only listing probes.
func (v *verifier) planning() bool { return v.on && v.verdicts == nil }

// Why a probe is not asked yet, when a later round has no answer to it.
const (
	reasonTooMany = "too many credentials to verify in one request"
	reasonNotYet  = "asked only once the endpoints before it fail"
)

// Reasons of the unavailable verdicts of probes pkg/admission/verify did not send (its
// limits per review and per namespace; Facts.NotSent marks them).
const (
	ReasonProbeLimit = "too many registries to verify in one request"
	ReasonProbeRate  = "probe rate limit of the namespace reached"
)

// badAuthVerdict is the answer of an attempt CRI-O fails before contacting the endpoint:
// the nodes' auth file entry it picks cannot be decoded. Definite, as a refusal is.
var badAuthVerdict = registryauth.Verdict{Status: registryauth.ProbeUnauthorized, Reason: "the nodes' auth file entry cannot be decoded"}

// verdict returns the answer to a probe. Without one it records the probe (unless notAsked
// says why not) and reports false in planning, or an unavailable verdict in a later round.
func (v *verifier) verdict(img registryauth.Image, o option, notAsked string) (registryauth.Verdict, bool) {
	ask := notAsked == ""
	at := o.image(img)
	key := registryauth.ProbeKeyFor(at, o.cred)
	if vd, ok := v.verdicts[key]; ok {
		return vd, true
	}
	if ask && !v.seen[key] {
		if v.seen == nil {
			v.seen = map[registryauth.ProbeKey]bool{}
		}
		v.seen[key] = true
		v.requests = append(v.requests, ProbeRequest{Key: key, Image: at, Credential: o.cred, Source: o.source()})
	}
	if v.verdicts == nil {
		return registryauth.Verdict{}, false
	}
	reason := "no answer in time"
	if !ask {
		reason = notAsked
	}
	return registryauth.Verdict{Status: registryauth.ProbeUnavailable, Reason: reason}, true
}

// tried is an option and the registry's answer to it.
type tried struct {
	option
	verdict registryauth.Verdict
}

// firstAccepted asks about options in kubelet order and returns the index of the first the
// registry accepts (or that may not be asked: a skipped probe decides by matching alone)
// with the answers before it, or -1 with every answer; in planning, or with verification
// off, it returns 0. A credential provider's attempt is accepted unasked, as the kubelet's
// provider is when nothing before it works.
//
// A mirrored image's attempts (mirror.go) are asked ahead too, but never at an endpoint
// before the runtime is known to get there: an endpoint none of the earlier attempts
// contacts is asked only once they have all failed, so a mirror that serves keeps the
// probes off the source (which a disconnected cluster cannot reach). A probe pullguard's
// limits did not send is no failure: the endpoints after it stay unasked.
func (v *verifier) firstAccepted(img registryauth.Image, options []option) (int, []tried) {
	if !v.on {
		return 0, nil
	}
	var answers []tried
	var reached []*mirrors.Endpoint // endpoints of mirrored attempts answered or asked, each once
	unanswered := 0
	held := false // a mirrored attempt before was not sent: the runtime may stop there
	for i, o := range options {
		if o.provider {
			if v.planning() {
				return 0, nil // nothing after it is asked: the runtime stops there
			}
			return i, answers
		}
		if o.badAuth {
			// CRI-O fails this attempt before contacting the endpoint: a failure known
			// without asking, and no gate to the endpoints after it.
			answers = append(answers, tried{o, badAuthVerdict})
			continue
		}
		answered := v.answered(img, o)
		notAsked := ""
		switch {
		case unanswered >= askAhead:
			notAsked = reasonTooMany
		case o.at == nil || slices.Contains(reached, o.at):
		case !answered && (unanswered > 0 || held):
			notAsked = reasonNotYet
		default:
			reached = append(reached, o.at)
		}
		vd, ok := v.verdict(img, o, notAsked)
		if !answered {
			unanswered++
		}
		if !ok {
			continue
		}
		if o.at != nil && answered && len(v.notSent) > 0 && v.notSent[registryauth.ProbeKeyFor(o.image(img), o.cred)] {
			held = true
		}
		// A skipped probe decides by matching alone: accepted, unless it is an anonymous
		// attempt where --private-registries wants a credential.
		if vd.Status == registryauth.ProbeOK || vd.Status == registryauth.ProbeSkipped && !o.private {
			return i, answers
		}
		answers = append(answers, tried{o, vd})
	}
	if v.planning() {
		return 0, nil
	}
	return -1, answers
}

// answered reports whether the registry's answer (or a failure to get one) is in.
func (v *verifier) answered(img registryauth.Image, o option) bool {
	_, ok := v.verdicts[registryauth.ProbeKeyFor(o.image(img), o.cred)]
	return ok
}

// check applies the registry's answers to the credentials a build would try for a decided
// image: the pull works if any is accepted, and that one is named.
func (v *verifier) check(id ImageDecision, img registryauth.Image, options []option) ImageDecision {
	i, answers := v.firstAccepted(img, options)
	if i >= 0 {
		if v.on && !v.planning() {
			id.Secret = options[i].name
		}
		return id
	}
	id.Outcome, id.Message, id.advice = refused(id.place, id.Image, img, answers)
	return id
}

// refused turns the answers to refused credentials into an outcome, a message and its
// advice: rejected when every answer is definite, indeterminate when a registry could not
// be asked.
func refused(p place, ref string, img registryauth.Image, answers []tried) (Outcome, string, advice) {
	outcome := Rejected
	if !allDefinite(answers) {
		outcome = Indeterminate
	}
	parts := describeAll(img, answers)
	if outcome == Indeterminate {
		return outcome, fmt.Sprintf("%s image %q: could not verify with %s: %s", p, ref, img.Registry, strings.Join(parts, "; ")), refusedAdvice(img, answers)
	}
	return outcome, fmt.Sprintf("%s image %q: %s", p, ref, strings.Join(parts, "; ")), refusedAdvice(img, answers)
}

// maxAnswersListed bounds the registry answers one message describes: a pod may list a
// thousand secrets for one registry, and each of its images would describe every refusal.
const maxAnswersListed = 8

// describeAll describes the first maxAnswersListed answers, then says how many more there
// are.
func describeAll(img registryauth.Image, answers []tried) []string {
	n := min(len(answers), maxAnswersListed)
	out := make([]string, 0, n+1)
	for _, a := range answers[:n] {
		out = append(out, describe(img, a))
	}
	if more := len(answers) - n; more > 0 {
		out = append(out, fmt.Sprintf("and %d more", more))
	}
	return out
}

// describe says what a registry answered to one credential.
func describe(img registryauth.Image, a tried) string {
	if a.at != nil {
		return describeEndpoint(a)
	}
	vd := a.verdict
	who := "the credentials in " + a.source()
	status := httpStatus(vd)
	switch vd.Status {
	case registryauth.ProbeUnauthorized:
		return fmt.Sprintf("registry refused %s for %s: %s; the token may have expired", who, img.Registry, status)
	case registryauth.ProbeForbidden:
		return fmt.Sprintf("%s have no access to repository %s/%s: %s", who, img.Registry, img.Repository, status)
	case registryauth.ProbeNotFound:
		return missingManifest(img, vd)
	default:
		return fmt.Sprintf("%s could not be checked: %s", who, vd.Reason)
	}
}

func missingManifest(img registryauth.Image, vd registryauth.Verdict) string {
	what := fmt.Sprintf("tag %q", img.Tag)
	if img.Digest != "" {
		what = "digest " + img.Digest
	}
	return fmt.Sprintf("%s does not exist in %s/%s (%s); check the image reference", what, img.Registry, img.Repository, httpStatus(vd))
}

func httpStatus(vd registryauth.Verdict) string {
	s := fmt.Sprintf("HTTP %d", vd.HTTPStatus)
	if vd.Code != "" {
		s += " " + vd.Code
	}
	return s
}

// verifyAnonymous decides an image no credential matches by asking the registry
// anonymously: accepted is anonymous, 401 or 403 is missing, 404 is rejected, and no answer
// is indeterminate unless --private-registries says a credential is needed anyway. ok is
// false when there is no verdict to apply (verification off, or planning).
func (v *verifier) verifyAnonymous(f *Facts, img registryauth.Image) (Outcome, registryauth.Verdict, bool) {
	if !v.on {
		return "", registryauth.Verdict{}, false
	}
	vd, ok := v.verdict(img, option{}, "")
	if !ok || vd.Status == registryauth.ProbeSkipped {
		return "", vd, false
	}
	switch vd.Status {
	case registryauth.ProbeOK:
		return Anonymous, vd, true
	case registryauth.ProbeUnauthorized, registryauth.ProbeForbidden:
		return Missing, vd, true
	case registryauth.ProbeNotFound:
		return Rejected, vd, true
	}
	if f.PrivateRegistries.Match(img) {
		return Missing, vd, true
	}
	return Indeterminate, vd, true
}

// secretSource and nodeSource name credential sources in messages.
func secretSource(name string) string { return "secret " + quote(name) }

func nodeSource(name string) string { return "the nodes' credentials (" + name + ")" }

// nodePrefix marks the nodes' credentials among candidates: node:openshift-config/pull-secret.
const nodePrefix = "node:"

func optionsOf(ms []registryauth.Match) []option {
	out := make([]option, len(ms))
	for i := range ms {
		out[i] = option{name: ms[i].Secret, key: ms[i].Key, cred: &ms[i].Credential}
	}
	return out
}

// nodeOptions are the nodes' matching credentials, named node:<source>.
func nodeOptions(ms []registryauth.Match) []option {
	out := optionsOf(ms)
	for i := range out {
		out[i].name, out[i].node = nodePrefix+out[i].name, true
	}
	return out
}

// nodeNames returns the names of the node options among options, each once.
func nodeNames(options []option) []string {
	var out []string
	for _, o := range options {
		if o.node && !slices.Contains(out, o.name) {
			out = append(out, o.name)
		}
	}
	return out
}

// candidateNames lists every credential source the kubelet would try, each once, in its
// order: the pod's secrets, the nodes' credentials, the credential provider.
func candidateNames(options []option, p registryauth.CredentialProvider, byProvider bool) []string {
	out := make([]string, 0, len(options)+1)
	var seen map[string]struct{} // past a few names, a scan of out per option would be quadratic
	if len(options) > 8 {
		seen = make(map[string]struct{}, len(options))
	}
	for _, o := range options {
		switch {
		case seen != nil:
			if _, dup := seen[o.name]; dup {
				continue
			}
			seen[o.name] = struct{}{}
		case slices.Contains(out, o.name):
			continue
		}
		out = append(out, o.name)
	}
	if byProvider {
		out = append(out, providerName(p))
	}
	return out
}

func providerName(p registryauth.CredentialProvider) string {
	return nodePrefix + "credential-provider/" + p.Name
}
