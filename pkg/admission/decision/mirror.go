package decision

import (
	"fmt"
	"slices"
	"strings"

	"github.com/pullguard/pullguard/pkg/registryauth"
	"github.com/pullguard/pullguard/pkg/registryauth/mirrors"
)

// Where a pull really goes (SPEC section 6, mirrors). The kubelet computes its credentials
// for the image as written, exactly as without mirrors, and calls the runtime once per
// credential, in order, until a pull works (once with none when none matches). In each call
// the runtime walks the image's endpoints (mirrors.Route) and takes the first that serves
// the manifest; any error falls through to the next. At an endpoint the runtime uses the
// kubelet's credential where it sends it (containerd: everywhere; CRI-O: on the source's
// host) and otherwise, under CRI-O, the one credential the nodes' auth file has for the
// endpoint (containers/image's rules), or none. CRI-O also reads the auth file at every
// endpoint of a call that carries no credential. So a mirrored image's attempts are the
// product of credentials and endpoints in that order; each attempt is an option with its
// endpoint, and the verifier probes them in order like any options.
//
// Images no mirror configuration applies to never get here: they cost what they cost
// before, with no route and no attempt list.

// Mirrored reports whether a mirror configuration applies to some image of the decision
// (its Endpoints are listed). pkg/admission/verify gives such a decision more rounds: the
// runtime reaches one more endpoint of a mirrored image per round.
func (d *Decision) Mirrored() bool {
	for i := range d.Images {
		if len(d.Images[i].Endpoints) > 0 {
			return true
		}
	}
	return false
}

// mirrored reports whether any mirror configuration is known.
func (f *Facts) mirrored() bool { return f.Mirrors != nil && len(f.Mirrors.Sources) > 0 }

// routeOf returns where a pull of img goes, nil when no mirror configuration applies.
func (f *Facts) routeOf(img registryauth.Image) *mirrors.Route {
	if !f.mirrored() {
		return nil
	}
	return f.Mirrors.MirroredRoute(img)
}

func (f *Facts) crio() bool { return f.Mirrors != nil && f.Mirrors.Runtime == mirrors.CRIO }

// kubeletReaches reports whether some endpoint receives the kubelet's credential; when none
// does (CRI-O, the source blocked, mirrors on other hosts) a pod secret cannot help.
func kubeletReaches(route *mirrors.Route) bool {
	for i := range route.Endpoints {
		if route.Endpoints[i].KubeletCredential {
			return true
		}
	}
	return false
}

// attempts lists the runtime's attempts for a mirrored image, in its order: one kubelet call
// per credential of calls (one with none when calls is empty), each walking the route's
// endpoints. An (endpoint, credential) pair already listed is left out: the registry would
// answer it the same. Callers bound calls (maxMirroredOffers): the list is calls×endpoints
// long, and deduplicating it is linear in that.
func (f *Facts) attempts(route *mirrors.Route, calls []option) []option {
	if len(calls) == 0 {
		calls = []option{{}}
	}
	crio := f.crio()
	n := len(calls) * len(route.Endpoints)
	out := make([]option, 0, n)
	var seen map[attemptKey]struct{} // only when there is more than one call to repeat a pair
	if len(calls) > 1 {
		seen = make(map[attemptKey]struct{}, n)
	}
	var auth []*option // the auth file's answer per endpoint, looked up once
	for _, c := range calls {
		for i := range route.Endpoints {
			e := &route.Endpoints[i]
			a := c
			if crio && (!e.KubeletCredential || carriesNone(c)) {
				if auth == nil {
					auth = make([]*option, len(route.Endpoints))
				}
				if auth[i] == nil {
					o := f.authFileOption(e)
					auth[i] = &o
				}
				a = *auth[i]
			}
			a.at = e
			if a.cred == nil && !a.provider {
				a.private = f.PrivateRegistries.Match(e.Image)
			}
			if seen != nil {
				k := a.attemptKey()
				if _, dup := seen[k]; dup {
					continue
				}
				seen[k] = struct{}{}
			}
			out = append(out, a)
		}
	}
	return out
}

// carriesNone reports whether a kubelet call sends the runtime no credential, as CRI-O sees
// it: one without a username is none (server/image_pull.go sends a credential only when it
// names a user), whatever its password or token.
func carriesNone(c option) bool { return !c.provider && (c.cred == nil || c.cred.Username() == "") }

// authFileOption is the credential CRI-O reads from the nodes' auth file for an endpoint,
// or an anonymous attempt when the file has none for it, or, when the entry it finds cannot
// be decoded, an attempt that fails there without contacting the endpoint.
func (f *Facts) authFileOption(e *mirrors.Endpoint) option {
	m, ok, err := f.authFileLookup(e.Image)
	switch {
	case !ok:
		return option{}
	case err != nil:
		return option{name: nodePrefix + m.Secret, key: m.RawKey, node: true, authFile: true, badAuth: true}
	}
	return option{name: nodePrefix + m.Secret, key: m.Key, node: true, authFile: true, cred: &m.Credential}
}

// attemptKey identifies what the registry is asked in an attempt: the endpoint and what is
// sent there (a provider's token, a credential, or nothing). Two attempts of one key get
// the same answer.
type attemptKey struct {
	at       *mirrors.Endpoint
	provider string
	badAuth  bool
	hasCred  bool
	cred     registryauth.Credential
}

func (o option) attemptKey() attemptKey {
	k := attemptKey{at: o.at, badAuth: o.badAuth}
	switch {
	case o.provider:
		k.provider = o.name
	case o.cred != nil:
		k.hasCred, k.cred = true, *o.cred
	}
	return k
}

// workable reports whether, by matching alone, an attempt is expected to serve: it carries
// a credential, or it is anonymous where --private-registries does not want one.
func (o option) workable() bool { return !o.badAuth && (o.cred != nil || o.provider || !o.private) }

// maxMirroredOffers bounds the credentials whose attempts are listed for one mirrored image,
// the namespace's offers (chooseMirrored) as the final pod's (resolveMirrored): each is a
// kubelet call through every endpoint, and a namespace, or a pod's list, may hold
// thousands for one registry. No review asks about more than a few dozen attempts anyway (askAhead a
// round, pkg/admission/verify's rounds); past the bound the image is undecided, as an
// unmirrored one with too many credentials to verify is.
const maxMirroredOffers = 32

// chooseMirrored picks what to inject for a mirrored image from the namespace's offers, in
// the order tried: each offer is a kubelet call through the endpoints. The first offer
// whose own credential an endpoint accepts is injected; when an attempt with the nodes'
// auth file (or anonymous) serves first, the image pulls without any, and nothing is
// injected.
func (r *podResolver) chooseMirrored(pi *podImage, trying []option) {
	considered := trying[:min(len(trying), maxMirroredOffers)]
	atts := r.f.attempts(pi.route, considered)
	i, answers := r.v.firstAccepted(pi.img, atts)
	switch {
	case i >= 0 && (!r.v.on || r.v.planning()):
		r.add(trying[0].name)
	case i >= 0:
		if a := atts[i]; !a.authFile && a.cred != nil {
			r.add(a.name)
		}
	case !allDefinite(answers) || len(considered) < len(trying):
		r.add(trying[0].name) // unverified, as for an unmirrored image
	default:
		pi.refused = answers
	}
}

// resolveMirrored decides a mirrored image against the final pod: options are the kubelet's
// credentials for the image as written (the pod's, then the nodes'), and the provider, when
// one matches, comes last.
func (r *podResolver) resolveMirrored(id ImageDecision, pi *podImage, podMs []registryauth.Match, options []option, provider registryauth.CredentialProvider, byProvider bool) ImageDecision {
	route, img := pi.route, pi.img
	if len(options) > 0 || byProvider {
		r.candidates(&id, pi, podMs, options, provider, byProvider)
	}
	if route.Err != nil || len(route.Endpoints) == 0 {
		id.Outcome = Rejected
		id.Endpoints = r.notTried(route, img, nil)
		if route.Err != nil {
			id.Message, id.advice = routeErrorMessage(pi.place, pi.ref, route.Err)
		} else {
			id.Message, id.advice = noEndpointMessage(pi.place, pi.ref, img, route)
		}
		return id
	}
	// The kubelet calls the runtime once per credential, but pullguard follows at most
	// maxMirroredOffers of them, as chooseMirrored does: past those the image is undecided.
	calls, capped := options, len(options) > maxMirroredOffers
	switch {
	case capped:
		calls = options[:maxMirroredOffers]
	case byProvider:
		calls = append(slices.Clip(options), option{name: providerName(provider), node: true, provider: true})
	}
	atts := r.f.attempts(route, calls)
	verified := r.v.on && !r.v.planning()
	i, answers := r.v.firstAccepted(img, atts)
	if !verified {
		i, answers = slices.IndexFunc(atts, option.workable), nil
	}
	if i >= 0 {
		a := atts[i]
		id.Outcome, id.Secret = r.outcomeOf(a), a.name
		id.Endpoints = r.notTried(route, img, r.endpoints(img, atts[:i+1], verified))
		id.Message = r.f.say(func() string { return r.mirroredUsedMessage(id, pi, a, answers) })
		return id
	}
	id.Endpoints = r.notTried(route, img, r.endpoints(img, atts, verified))
	if !verified {
		id.Outcome = Missing
		id.Message, id.advice = r.mirroredMissing(pi, atts, nil)
		return id
	}
	all := mergeTried(pi.refused, answers)
	id.Outcome = mirroredFailure(all)
	if capped {
		id.Outcome = Indeterminate // the credentials past the bound might serve
	}
	switch {
	case id.Outcome == Missing && len(pi.blocked) > 0:
		id.Message, id.advice = mountableMessage(pi.place, pi.ref, img, pi.blocked[0].name, r.saName, r.ns)
	case id.Outcome == Missing:
		id.Message, id.advice = r.mirroredMissing(pi, atts, all)
	default:
		id.Message, id.advice = r.mirroredRefused(pi, id.Outcome, all)
		if capped {
			tries := len(options)
			if byProvider {
				tries++
			}
			id.Message += fmt.Sprintf("; %s: the kubelet would try %d, pullguard follows the first %d", reasonTooMany, tries, maxMirroredOffers)
			if allDefinite(all) {
				id.advice = advice{fix: "could not verify images of " + img.Registry, reason: reasonTooMany}
			}
		}
		if id.Outcome == Indeterminate && len(podMs) > 0 && r.injected(podMs[0].Secret) {
			id.Secret = podMs[0].Secret
			id.Message += "; pull secret " + quote(id.Secret) + " would be attached unverified"
		}
	}
	return id
}

// outcomeOf names whose credential serves an attempt.
func (r *podResolver) outcomeOf(a option) Outcome {
	switch {
	case a.node:
		return Node // the kubelet's node credentials, its provider, or the nodes' auth file
	case a.cred == nil:
		return Anonymous
	case r.injected(a.name):
		return Injected
	}
	return Covered
}

// mirroredFailure says what it means that no attempt served: undecided when an endpoint
// could not be asked, missing when only anonymous requests were refused (a credential is
// all that lacks), rejected otherwise.
func mirroredFailure(answers []tried) Outcome {
	anonymousOnly := true
	for _, a := range answers {
		vd := a.verdict
		if !vd.Definite() && !(vd.Status == registryauth.ProbeSkipped && a.private) {
			return Indeterminate
		}
		if a.cred != nil || a.badAuth || vd.Status == registryauth.ProbeNotFound {
			anonymousOnly = false
		}
	}
	if anonymousOnly {
		return Missing
	}
	return Rejected
}

// mergeTried appends the answers of more that are not in first (the same endpoint asked
// with the same credential).
func mergeTried(first, more []tried) []tried {
	if len(first) == 0 {
		return more
	}
	seen := make(map[attemptKey]struct{}, len(first)+len(more))
	for i := range first {
		seen[first[i].attemptKey()] = struct{}{}
	}
	out := slices.Clone(first)
	for _, a := range more {
		k := a.attemptKey()
		if _, dup := seen[k]; !dup {
			seen[k] = struct{}{}
			out = append(out, a)
		}
	}
	return out
}

// maxEndpointsListed bounds ImageDecision.Endpoints' attempts (the places not tried come
// after them, one per configured mirror): past it the first ones and the last, which is
// the one that served when one did. A pod may list a thousand secrets for one registry.
const maxEndpointsListed = 16

// endpoints renders attempts for ImageDecision.Endpoints, with the registry's answers when
// verified.
func (r *podResolver) endpoints(img registryauth.Image, atts []option, verified bool) []Endpoint {
	listed := atts
	if len(atts) > maxEndpointsListed {
		listed = append(slices.Clone(atts[:maxEndpointsListed-1]), atts[len(atts)-1])
	}
	out := make([]Endpoint, 0, len(listed)+1)
	for i := range listed {
		a := &listed[i]
		e := Endpoint{Host: a.at.Image.Registry, MirrorOf: a.at.MirrorOf, Credential: a.name}
		if verified && !a.provider && !a.badAuth { // neither is asked
			vd, ok := r.v.verdicts[registryauth.ProbeKeyFor(a.image(img), a.cred)]
			if !ok {
				vd.Status = registryauth.ProbeUnavailable // counted so by the decision
			}
			e.Result = endpointResult(vd)
		}
		out = append(out, e)
	}
	return out
}

// notTried appends the configured places the runtime does not try for this reference: the
// mirrors it skips, then the source when it is blocked or serves only the other kind.
func (r *podResolver) notTried(route *mirrors.Route, img registryauth.Image, out []Endpoint) []Endpoint {
	s := route.Source
	of := s.Prefix
	if of == mirrors.DefaultHost {
		of = img.Registry
	}
	for _, sk := range route.Skipped {
		out = append(out, Endpoint{Host: hostOf(sk.Mirror.Location), MirrorOf: of, Result: EndpointSkipped})
	}
	if route.Err != nil || slices.ContainsFunc(route.Endpoints, func(e mirrors.Endpoint) bool { return e.MirrorOf == "" }) {
		return out
	}
	host := img.Registry
	if s.Location != "" {
		host = hostOf(s.Location)
	}
	result := EndpointBlocked
	if !s.Blocked && servesOtherKind(s.SourcePullFrom, img) {
		result = EndpointSkipped
	}
	return append(out, Endpoint{Host: host, Result: result})
}

// servesOtherKind reports whether a place that serves only pf leaves img's kind of
// reference (tag or digest) out.
func servesOtherKind(pf mirrors.PullFrom, img registryauth.Image) bool {
	return pf == mirrors.DigestOnly && img.Digest == "" || pf == mirrors.TagOnly && img.Digest != ""
}

// hostOf is the registry host of a location host[:port][/path].
func hostOf(location string) string {
	host, _, _ := strings.Cut(location, "/")
	return host
}
