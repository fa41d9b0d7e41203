package decision

import (
	"fmt"
	"slices"
	"strings"

	"github.com/pullguard/pullguard/pkg/registryauth"
	"github.com/pullguard/pullguard/pkg/registryauth/mirrors"
)

// Messages of mirrored images: where the pull goes, whose credential is used there, and what
// to add where (pod secrets reach only the endpoints the kubelet's credential goes to; the
// rest is the nodes' auth file).

// endpointName names an endpoint: "mirror M (ImageDigestMirrorSet X)" or "source S".
func endpointName(e *mirrors.Endpoint) string {
	switch {
	case e.MirrorOf == "":
		return "source " + e.Image.Registry
	case e.Origin == "":
		return "mirror " + e.Image.Registry
	}
	return fmt.Sprintf("mirror %s (%s)", e.Image.Registry, e.Origin)
}

// through says where a pull is served from.
func through(e *mirrors.Endpoint) string {
	if e.MirrorOf == "" {
		return "pulled from " + endpointName(e)
	}
	return "pulled through " + endpointName(e)
}

// describeEndpoint says what an endpoint answered to one attempt.
func describeEndpoint(a tried) string {
	at, vd := a.at, a.verdict
	where := endpointName(at)
	if a.badAuth {
		return badAuthNote(a.option)
	}
	status := httpStatus(vd)
	if a.cred == nil {
		switch vd.Status {
		case registryauth.ProbeUnauthorized, registryauth.ProbeForbidden:
			return fmt.Sprintf("%s answered %s to an anonymous request", where, status)
		case registryauth.ProbeSkipped:
			return fmt.Sprintf("%s was not asked (%s) and --private-registries lists it", where, vd.Reason)
		}
	}
	who := "the credentials in " + a.source()
	switch {
	case a.cred == nil:
		who = "an anonymous request"
	case a.node:
		who = a.source()
	}
	switch vd.Status {
	case registryauth.ProbeUnauthorized:
		return fmt.Sprintf("%s refused %s: %s; the token may have expired", where, who, status)
	case registryauth.ProbeForbidden:
		return fmt.Sprintf("%s: %s have no access to repository %s: %s", where, who, at.Image.Name, status)
	case registryauth.ProbeNotFound:
		what := fmt.Sprintf("tag %q", at.Image.Tag)
		if at.Image.Digest != "" {
			what = "digest " + at.Image.Digest
		}
		return fmt.Sprintf("%s has no %s in %s (%s)", where, what, at.Image.Name, status)
	}
	return fmt.Sprintf("%s: %s could not be checked: %s", where, who, vd.Reason)
}

// badAuthNote says why an attempt with the nodes' auth file fails unasked.
func badAuthNote(a option) string {
	key := registryauth.ParseKey(a.key).Display()
	return fmt.Sprintf("%s: the entry %q of %s is not base64 of username:password, so CRI-O fails the pull there without contacting it", endpointName(a.at), key, a.source())
}

// mirroredUsedMessage words a mirrored image that pulls with attempt a; before are the
// attempts refused first.
func (r *podResolver) mirroredUsedMessage(id ImageDecision, pi *podImage, a option, before []tried) string {
	p, ref, img := pi.place, pi.ref, pi.img
	var msg string
	switch {
	case a.authFile && a.at.MirrorOf == "":
		msg = fmt.Sprintf("%s image %q: %s with %s, which CRI-O reads when the kubelet sends none", p, ref, through(a.at), a.source())
	case a.authFile:
		msg = fmt.Sprintf("%s image %q: %s with %s, which CRI-O uses there", p, ref, through(a.at), a.source())
	case a.provider:
		msg = providerMessage(p, ref, img, strings.TrimPrefix(a.name, nodePrefix+"credential-provider/"), nil) + "; " + through(a.at)
	case a.node:
		msg = nodeMessage(p, ref, img) + "; " + through(a.at)
	case a.cred == nil:
		msg = fmt.Sprintf("%s image %q: no credentials go to %s; the runtime pulls it anonymously", p, ref, endpointName(a.at))
	case id.Outcome == Injected:
		msg = injectedMessage(p, ref, a.name, r.ns, img, r.template) + "; " + through(a.at)
	default:
		msg = coveredMessage(p, ref, a.name, a.key, r.secretsOwner()) + "; " + through(a.at)
	}
	if len(before) > 0 {
		msg += "; tried first in vain: " + describe(img, before[0])
		if len(before) > 1 {
			msg += fmt.Sprintf(" (and %d more)", len(before)-1)
		}
	}
	if note := r.notAttached(pi); note != "" {
		msg += "; " + note
	}
	return msg
}

// notAttached says why a namespace secret that matches the image was not injected: CRI-O
// would send it to no endpoint.
func (r *podResolver) notAttached(pi *podImage) string {
	if !pi.unreached || len(pi.offers) == 0 {
		return ""
	}
	return fmt.Sprintf("pull secret %q of namespace %q is not attached: CRI-O does not send the kubelet's credentials to %s", pi.offers[0].name, r.ns, endpointHosts(pi.route))
}

func endpointHosts(route *mirrors.Route) string {
	hosts := make([]string, 0, len(route.Endpoints))
	for i := range route.Endpoints {
		if h := route.Endpoints[i].Image.Registry; !slices.Contains(hosts, h) {
			hosts = append(hosts, h)
		}
	}
	return strings.Join(hosts, ", ")
}

// mirroredMissing words a mirrored image no credential reaches: where the kubelet's
// credential goes, a namespace secret for the image as written (the kubelet matches that);
// where it goes nowhere (CRI-O), the nodes' credentials for the first mirror. answers are
// the registries' refusals, when verified.
func (r *podResolver) mirroredMissing(pi *podImage, atts []option, answers []tried) (string, advice) {
	p, ref, img := pi.place, pi.ref, pi.img
	why := describeAll(img, answers)
	if answers == nil {
		// Unverified: a bad auth-file entry fails its attempt all the same.
		if i := slices.IndexFunc(atts, func(a option) bool { return a.badAuth }); i >= 0 {
			why = append(why, badAuthNote(atts[i]))
		}
	}
	why = append(why, r.mirrorNearMisses(pi, answers)...)
	if !kubeletReaches(pi.route) {
		e := atts[0].at
		who, fix := r.nodeAuthFix(pi, e)
		if note := r.notAttached(pi); note != "" {
			why = append(why, note)
		}
		return fmt.Sprintf("%s image %q: %s; CRI-O uses the nodes' credentials there, and %s has none for %s%s: %s", p, ref, through(e), who, e.Image.Registry, because(why), fix),
			advice{fix: fmt.Sprintf("give the nodes credentials for %s: %s", e.Image.Registry, fix), reason: fmt.Sprintf("CRI-O pulls %s through %s with the nodes' credentials only", img.Name, endpointName(e))}
	}
	tail := "and pullguard will attach it"
	if r.f.crio() && !atts[0].at.KubeletCredential {
		// CRI-O asks a mirror on another host first, with the nodes' credentials: in a
		// disconnected cluster those are what the pull needs.
		e := atts[0].at
		_, fix := r.nodeAuthFix(pi, e)
		tail += fmt.Sprintf(", or give the nodes credentials for %s, which CRI-O tries first: %s", endpointName(e), fix)
	}
	return missingMessage(p, ref, img, r.ns, append(why, r.explain(img)...), tail)
}

// mirroredRefused words a mirrored image every attempt of which failed: each endpoint's
// answer, then what explains it.
func (r *podResolver) mirroredRefused(pi *podImage, outcome Outcome, answers []tried) (string, advice) {
	parts := append(describeAll(pi.img, answers), r.mirrorNearMisses(pi, answers)...)
	head := fmt.Sprintf("%s image %q: ", pi.place, pi.ref)
	if outcome == Indeterminate {
		head += "could not verify the pull: "
	}
	return head + strings.Join(parts, "; "), r.mirroredAdvice(pi, answers)
}

// mirroredAdvice is the fix of a mirrored image every attempt of which failed: an endpoint
// that could not be asked leaves nothing to fix; a refused credential is renewed where it
// comes from; only when every endpoint lacks the manifest is the reference at fault.
func (r *podResolver) mirroredAdvice(pi *podImage, answers []tried) advice {
	img := pi.img
	for _, a := range answers {
		if !a.verdict.Definite() && !(a.verdict.Status == registryauth.ProbeSkipped && a.private) {
			return undecidedAdvice(a.image(img), a.verdict)
		}
	}
	for _, a := range answers {
		at := a.image(img)
		switch {
		case a.badAuth:
			_, fix := r.nodeAuthFix(pi, a.at)
			return advice{fix: fmt.Sprintf("fix the nodes' credentials for %s: %s", at.Registry, fix), reason: badAuthNote(a.option)}
		case a.cred == nil && a.verdict.Status != registryauth.ProbeNotFound:
			continue
		case a.verdict.Status == registryauth.ProbeUnauthorized && a.authFile:
			_, fix := r.nodeAuthFix(pi, a.at)
			return advice{fix: fmt.Sprintf("renew the nodes' credentials for %s: %s", at.Registry, fix), reason: fmt.Sprintf("%s refused them: %s", endpointName(a.at), httpStatus(a.verdict))}
		case a.verdict.Status == registryauth.ProbeUnauthorized:
			return advice{fix: fmt.Sprintf("renew the credentials in %s for %s", a.source(), at.Registry), reason: fmt.Sprintf("%s refused them: %s; the token may have expired", endpointName(a.at), httpStatus(a.verdict))}
		case a.verdict.Status == registryauth.ProbeForbidden:
			return advice{fix: fmt.Sprintf("grant the credentials in %s pull access to %s", a.source(), at.Name), reason: "the registry refused access: " + httpStatus(a.verdict)}
		}
	}
	for _, a := range answers {
		if a.verdict.Status == registryauth.ProbeNotFound && a.at.MirrorOf == "" {
			return missingManifestAdvice(a.image(img), a.verdict)
		}
	}
	return advice{fix: fmt.Sprintf("check that the mirrors of %s hold %s", img.Registry, img.Ref), reason: "no endpoint serves it"}
}

// mirrorNearMisses explains failures mirrors cause: a pull secret keyed to a mirror host
// (the kubelet matches the image as written, so it never travels), and under CRI-O a node
// key for a mirror on the source's host, where the kubelet's refused credential is used
// instead.
func (r *podResolver) mirrorNearMisses(pi *podImage, answers []tried) []string {
	var out []string
	img, route := pi.img, pi.route
	for i := range route.Endpoints {
		e := &route.Endpoints[i]
		if e.MirrorOf == "" || e.Image.Registry == img.Registry {
			continue
		}
		ms := r.keyring.Lookup(e.Image)
		where := r.secretsOwner()
		if len(ms) == 0 {
			ms, where = r.f.Secrets.Candidates(e.Image), "of namespace "+quote(r.ns)
		}
		if len(ms) == 0 {
			continue
		}
		detail := "CRI-O uses the nodes' credentials at " + e.Image.Registry
		if !r.f.crio() {
			detail = fmt.Sprintf("key it to %s and the runtime sends it to %s too", img.Registry, e.Image.Registry)
		}
		out = append(out, fmt.Sprintf("pull secret %q %s has credentials for %s, but the kubelet matches pull secrets against %s; %s", ms[0].Secret, where, e.Image.Registry, img.Name, detail))
		break
	}
	if !r.f.crio() {
		return out
	}
	for _, a := range answers {
		refusedHere := a.verdict.Status == registryauth.ProbeUnauthorized || a.verdict.Status == registryauth.ProbeForbidden
		if a.at == nil || a.at.MirrorOf == "" || !a.at.KubeletCredential || a.authFile || a.cred == nil || !refusedHere {
			continue
		}
		if m, ok, err := r.f.authFileLookup(a.at.Image); ok && err == nil {
			out = append(out, fmt.Sprintf("the nodes' credentials (%s) for %s are not used there: CRI-O sends the kubelet's credential to a mirror on the source's host", m.Secret, m.Key))
			break
		}
	}
	return out
}

// globalPullSecret is OpenShift's cluster-wide pull secret, which the machine-config
// operator writes to every node as CRI-O's auth file.
const globalPullSecret = "openshift-config/pull-secret"

// nodeAuthFix names the nodes' auth file and how to add credentials for an endpoint to it:
// on OpenShift (the mirror comes from a mirror set) the cluster's global pull secret — the
// --node-credentials secret pullguard was given, else openshift-config/pull-secret — and
// elsewhere the file pullguard knows the nodes have, when it knows one.
func (r *podResolver) nodeAuthFix(pi *podImage, e *mirrors.Endpoint) (who, fix string) {
	if openShiftOrigin(e.Origin) || openShiftOrigin(pi.route.Source.BlockedBy) {
		who = globalPullSecret
		if len(r.f.NodeSecrets) > 0 {
			who = r.f.NodeSecrets[0]
		}
		ns, secret, _ := strings.Cut(who, "/")
		return who, fmt.Sprintf("add them with 'oc set data secret/%s -n %s --from-file=.dockerconfigjson=...'", secret, ns)
	}
	if name := r.nodeSourceName(pi); name != "" {
		return name, fmt.Sprintf("add an entry for %s to %s on every node", e.Image.Registry, name)
	}
	return "the nodes' auth file", fmt.Sprintf("add an entry for %s to the auth file CRI-O reads on every node (global_auth_file)", e.Image.Registry)
}

// nodeSourceName is the name of a nodes' credential source that has some key for the image
// or one of its endpoints, "" when none does.
func (r *podResolver) nodeSourceName(pi *podImage) string {
	if ms := r.f.Node.Lookup(pi.img); len(ms) > 0 {
		return ms[0].Secret
	}
	for i := range pi.route.Endpoints {
		if m, ok, _ := r.f.authFileLookup(pi.route.Endpoints[i].Image); ok {
			return m.Secret
		}
	}
	return ""
}

func openShiftOrigin(origin string) bool {
	kind, _, _ := strings.Cut(origin, " ")
	switch kind {
	case mirrors.KindImageDigestMirrorSet, mirrors.KindImageTagMirrorSet, mirrors.KindImageContentSourcePolicy:
		return true
	}
	return false
}

// noEndpointMessage is the rejection of an image the runtime has nowhere to pull from: every
// mirror skips its kind of reference and the source is blocked. The common case reads
// "tag reference, but ImageDigestMirrorSet X only mirrors digests and blocks the source".
func noEndpointMessage(p place, ref string, img registryauth.Image, route *mirrors.Route) (string, advice) {
	s := route.Source
	kind, other, otherSet := "tag", "digest", mirrors.KindImageTagMirrorSet
	only := mirrors.ReasonDigestsOnly
	if img.Digest != "" {
		kind, other, otherSet, only = "digest", "tag", mirrors.KindImageDigestMirrorSet, mirrors.ReasonTagsOnly
	}
	add := "add a mirror that serves " + kind + "s"
	if openShiftOrigin(s.BlockedBy) {
		add = "add an " + otherSet
	}
	compact := s.Blocked && len(route.Skipped) > 0
	for _, sk := range route.Skipped {
		if sk.Reason != only || sk.Mirror.Origin != s.BlockedBy {
			compact = false
		}
	}
	fix := fmt.Sprintf("use a %s or %s", other, add)
	if compact {
		what := "digests"
		if kind == "digest" {
			what = "tags"
		}
		reason := fmt.Sprintf("%s only mirrors %s and blocks the source", s.BlockedBy, what)
		return fmt.Sprintf("%s image %q: %s reference, but %s: %s", p, ref, kind, reason, fix),
			advice{fix: fmt.Sprintf("%s for %s", fix, s.Prefix), reason: reason}
	}
	var parts []string
	for _, sk := range route.Skipped {
		m := sk.Mirror
		name := "mirror " + hostOf(m.Location)
		if m.Origin != "" {
			name += " (" + m.Origin + ")"
		}
		parts = append(parts, name+" "+sk.Reason)
	}
	switch {
	case s.Blocked:
		by := s.BlockedBy
		if by == "" {
			by = "the configuration"
		}
		parts = append(parts, "the source is blocked by "+by)
	case servesOtherKind(s.SourcePullFrom, img):
		parts = append(parts, "the source serves "+other+"s only")
	default:
		parts = append(parts, "the source's location is blocked")
	}
	reason := strings.Join(parts, "; ")
	return fmt.Sprintf("%s image %q: %s reference, but the runtime has nowhere to pull it from (%s): %s", p, ref, kind, reason, fix),
		advice{fix: fmt.Sprintf("%s for %s", fix, s.Prefix), reason: reason}
}

// routeErrorMessage is the rejection of an image CRI-O cannot even start to pull: a
// rewritten reference is not a valid name.
func routeErrorMessage(p place, ref string, err error) (string, advice) {
	return fmt.Sprintf("%s image %q: CRI-O refuses the pull before contacting any registry: %v; fix the mirror configuration", p, ref, err),
		advice{fix: "fix the mirror configuration", reason: err.Error()}
}
