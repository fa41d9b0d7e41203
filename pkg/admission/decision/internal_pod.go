package decision

import (
	"slices"
	"strings"

	"github.com/pullguard/pullguard/pkg/registryauth"
)

// The internal registry's rules for a pod's images (SPEC section 5): the credential is the
// service account's dockercfg secret, which OpenShift creates a moment after the account
// and which a pod listing its own secrets does not get; and the registry lets that account
// pull from a project only where RBAC allows it.

// chooseInternal handles an internal-registry image the pod's secrets do not cover. The
// account's own dockercfg secret is injected even while it is missing or empty: the kubelet
// reads a pod's secrets again on every pull retry. It reports false when the ordinary
// choice among the namespace's secrets should go on.
func (r *podResolver) chooseInternal(pi *podImage) bool {
	name := r.saDockercfg
	if name == "" {
		if !r.f.ServiceAccountApplied || r.template {
			return false // manifests and templates: no pod to wait for
		}
		if !r.f.DockercfgWaited {
			r.await = true // decided again after the wait
			return true
		}
		pi.notReady = true
		return false // another namespace secret may still serve it
	}
	s, ok := r.f.secret(name)
	if filled(s, ok) && len(registryauth.NewKeyring(s).Lookup(pi.img)) == 0 {
		return false // filled, but for other registry names
	}
	if r.enforce && !slices.Contains(r.allowed, name) {
		return false // validation would refuse it; the ordinary path says so
	}
	if !slices.Contains(r.effective(), name) && !r.injected(name) {
		r.add(name)
		r.notes = append(r.notes, dockercfgAddedNote(name, r.saName, len(r.listed) > 0 && !r.f.DockercfgWaited))
	}
	return true
}

// internalUncredentialed decides an internal-registry image the final pod holds no
// credential for: while waiting for the account's dockercfg secret, undecided; when the
// account names one that is not filled yet, pulled once it is (never a reason to deny);
// when it names none even after the wait, not pullable. It reports false when the
// ordinary path decides.
func (r *podResolver) internalUncredentialed(id ImageDecision, pi *podImage) (ImageDecision, bool) {
	name := r.saDockercfg
	switch {
	case r.await:
		id.Outcome = Indeterminate
		id.Message = notReadyMessage(pi.place, pi.ref, r.saName, r.ns)
		return id, true
	case name != "" && (r.injected(name) || slices.Contains(r.effective(), name)):
		s, ok := r.f.secret(name)
		if filled(s, ok) {
			return id, false // filled for other registry names: the ordinary path explains
		}
		id.Outcome = Covered
		if r.injected(name) {
			id.Outcome = Injected
		}
		id.Secret, id.Candidates = name, []string{name}
		if !slices.Contains(r.notes, notFilledNote(name, r.saName)) {
			r.notes = append(r.notes, notFilledNote(name, r.saName))
		}
		return r.askInternal(id, pi, []AccessQuestion{r.question(r.saName, pi.project, "get")}), true
	case pi.notReady:
		id.Outcome = Missing
		id.Message = notReadyMessage(pi.place, pi.ref, r.saName, r.ns)
		id.advice = advice{fix: "retry in a few seconds", reason: "service account " + quote(r.saName) + " has no registry credentials yet"}
		return id, true
	}
	return id, false
}

// checkInternal asks whether the accounts whose tokens the final pod's credentials carry
// may pull the image's project; the kubelet tries them in order and uses the first the
// registry lets in.
func (r *podResolver) checkInternal(id ImageDecision, pi *podImage, final *registryauth.Keyring) ImageDecision {
	if !pi.internal || (id.Outcome != Covered && id.Outcome != Injected) {
		return id
	}
	var qs []AccessQuestion
	for _, name := range id.Candidates {
		account := r.accountOf(name)
		if account == "" {
			// The kubelet may use a credential whose account pullguard cannot name (a
			// user's token, the nodes'): nothing can be said about the pull.
			source := secretSource(name)
			if strings.HasPrefix(name, nodePrefix) {
				source = "the nodes' credentials"
			}
			r.notes = append(r.notes, accessSkippedNote(pi.place, pi.ref, pi.project, source))
			return id
		}
		q := r.question(account, pi.project, "get")
		if !slices.Contains(qs, q) {
			qs = append(qs, q)
		}
	}
	if len(qs) == 0 {
		return id
	}
	return r.askInternal(id, pi, qs)
}

// askInternal applies the answers to the questions of one image.
func (r *podResolver) askInternal(id ImageDecision, pi *podImage, qs []AccessQuestion) ImageDecision {
	id, note := applyAccess(&r.acc, id, pi.place, pi.ref, qs)
	if note != "" {
		r.notes = append(r.notes, note)
	}
	return id
}

// accountOf returns the service account a pod secret's token belongs to: its annotations
// say so, and the account's own dockercfg secret is the account's even before it exists.
func (r *podResolver) accountOf(secret string) string {
	if s, ok := r.f.secret(secret); ok && s.ServiceAccount != "" {
		return s.ServiceAccount
	}
	if secret == r.saDockercfg {
		return r.saName
	}
	return ""
}

func (r *podResolver) question(account, project, verb string) AccessQuestion {
	return AccessQuestion{Namespace: r.ns, ServiceAccount: account, Project: project, Verb: verb}
}

// applyAccess decides an image by the answers to its questions: allowed when any is,
// refused when every one is, undecided when one could not be asked, and a note when none
// could be checked (offline).
func applyAccess(a *access, id ImageDecision, p place, ref string, qs []AccessQuestion) (ImageDecision, string) {
	allowed, answers := a.anyAllowed(qs)
	if allowed || len(answers) == 0 {
		return id, ""
	}
	for i, ans := range answers {
		if ans.Status == AccessUnavailable {
			id.Outcome = Indeterminate
			id.Message = accessUnavailableMessage(p, ref, qs[i], ans.Reason)
			id.advice = advice{}
			return id, ""
		}
	}
	for i, ans := range answers {
		if ans.Status == AccessNotChecked {
			return id, accessNotCheckedNote(p, ref, qs[i], ans.Reason)
		}
	}
	q := qs[0]
	id.Outcome = Rejected
	id.Message = accessRefusedMessage(p, ref, q, answers[0].Reason)
	id.advice = accessAdvice(q)
	return id, ""
}
