package decision

import (
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"

	"github.com/pullguard/pullguard/pkg/registryauth"
)

const (
	// EnforceMountableAnnotation on a service account makes the ServiceAccount admission
	// plugin refuse pods whose imagePullSecrets the account does not list.
	EnforceMountableAnnotation = "kubernetes.io/enforce-mountable-secrets"
	defaultServiceAccount      = "default"
)

// Pod decides a Pod on CREATE: every image of its containers, init and ephemeral containers
// and image volumes, and the patch that appends the secrets it injects.
func Pod(pod *corev1.Pod, f *Facts) *Decision {
	d := &Decision{Kind: "Pod", Namespace: namespaceOf(pod.Namespace, f), Name: nameOf(pod.Name, pod.GenerateName)}
	r := newPodResolver(&pod.Spec, f, false)
	r.decide(d, &pod.Spec)
	d.Patch = r.patch()
	d.Probes = r.v.requests
	return d
}

// Template decides a workload's pod template (kind and name of the workload): the same
// resolution as for its pods, which are not created yet, so the ServiceAccount plugin's rule
// is applied here, and nothing is ever patched.
func Template(kind, namespace, name string, t *corev1.PodTemplateSpec, f *Facts) *Decision {
	facts := *f
	facts.ServiceAccountApplied = false
	d := &Decision{Kind: kind, Namespace: namespaceOf(namespace, f), Name: name}
	r := newPodResolver(&t.Spec, &facts, true)
	r.decide(d, &t.Spec)
	d.Probes = r.v.requests
	return d
}

// podResolver holds what one pod's images share: its effective pull secrets, its service
// account and the secrets injected so far.
type podResolver struct {
	f        *Facts
	ns       string
	template bool

	listed  []corev1.LocalObjectReference // imagePullSecrets as the object has them
	fromSA  []corev1.LocalObjectReference // the service account's, when the plugin's rule applied here
	keyring *registryauth.Keyring         // credentials of the effective pull secrets
	broken  *registryauth.PullSecret      // a referenced secret the kubelet cannot decode
	ignored []string                      // referenced secrets the kubelet ignores, with why

	saName  string
	allowed []string // with enforce-mountable-secrets: the only secrets a pod may list
	enforce bool

	inject []string
	v      *verifier
}

func newPodResolver(spec *corev1.PodSpec, f *Facts, template bool) *podResolver {
	r := &podResolver{f: f, ns: f.Namespace, template: template, listed: spec.ImagePullSecrets, keyring: &registryauth.Keyring{}, v: newVerifier(f)}
	r.saName = spec.ServiceAccountName
	if r.saName == "" {
		r.saName = spec.DeprecatedServiceAccount
	}
	if r.saName == "" {
		r.saName = defaultServiceAccount
	}
	sa, haveSA := f.serviceAccount(r.saName)
	effective := spec.ImagePullSecrets
	if len(effective) == 0 && !f.ServiceAccountApplied && haveSA {
		r.fromSA = sa.ImagePullSecrets
		effective = sa.ImagePullSecrets
	}
	if haveSA && sa.Annotations[EnforceMountableAnnotation] == "true" {
		r.enforce = true
		for _, ref := range sa.ImagePullSecrets {
			r.allowed = append(r.allowed, ref.Name)
		}
	}
	for _, ref := range effective {
		if ref.Name == "" {
			continue
		}
		s, ok := f.secret(ref.Name)
		switch {
		case !ok:
			r.ignored = append(r.ignored, quote(ref.Name)+" is listed on the pod but is not a pull secret of the namespace")
		case s.Err != nil && s.Err.BreaksPulls():
			if r.broken == nil {
				r.broken = s
			}
		case s.Err != nil:
			r.ignored = append(r.ignored, s.Err.Error()+" (the kubelet ignores it)")
		default:
			r.keyring.Add(s)
		}
	}
	return r
}

func (r *podResolver) decide(d *Decision, spec *corev1.PodSpec) {
	add := func(p place, ref string) {
		if ref == "" {
			return // the API server's validation refuses it; nothing to pull
		}
		d.Images = append(d.Images, r.resolve(p, ref))
	}
	for _, c := range spec.Containers {
		add(place{inContainer, c.Name}, c.Image)
	}
	for _, c := range spec.InitContainers {
		add(place{inInitContainer, c.Name}, c.Image)
	}
	for _, c := range spec.EphemeralContainers {
		add(place{inEphemeralContainer, c.Name}, c.Image)
	}
	for _, v := range spec.Volumes {
		if v.Image != nil {
			add(place{inImageVolume, v.Name}, v.Image.Reference)
		}
	}
}

func (r *podResolver) resolve(p place, ref string) ImageDecision {
	id := ImageDecision{Container: p.name, Image: ref, Candidates: []string{}, place: p}
	img, err := registryauth.ParseImage(ref)
	if err != nil {
		id.Outcome = Rejected
		id.Message = invalidReferenceMessage(p, ref, err)
		return id
	}
	id.Registry, id.Repository = img.Registry, img.Repository

	if r.broken != nil {
		id.Outcome = Rejected
		id.Secret = r.broken.Name
		id.Message = brokenSecretMessage(p, ref, r.broken.Err)
		return id
	}
	if ms := r.keyring.Lookup(img); len(ms) > 0 {
		id = covered(id, Covered, ms, r.f.say(func() string { return coveredMessage(p, ref, ms[0], r.secretsOwner()) }))
		return r.v.check(id, img, optionsOf(ms, secretSource))
	}
	if ms := r.f.Node.Lookup(img); len(ms) > 0 {
		id = covered(id, Node, ms, r.f.say(func() string { return nodeMessage(p, ref, img) }))
		return r.v.check(id, img, optionsOf(ms, nodeSource))
	}

	options := perSecret(r.f.Secrets.Candidates(img))
	usable, blocked := options, []option(nil)
	if r.enforce {
		usable, blocked = partition(options, r.allowed)
	}
	if len(usable) > 0 {
		return r.injectFirstAccepted(id, img, usable)
	}
	if len(blocked) > 0 {
		id.Outcome, id.Candidates = Missing, []string{}
		id.Message = mountableMessage(p, ref, img, blocked[0].name, r.saName, r.ns)
		return id
	}
	if outcome, vd, ok := r.v.verifyAnonymous(r.f, img); ok {
		id.Outcome, id.Message = outcome, anonymousVerdict(p, ref, img, r.ns, outcome, vd, r.explain(img))
		return id
	}
	id.Outcome = r.f.anonymousOutcome(img)
	if id.Outcome == Missing {
		id.Message = missingMessage(p, ref, img, r.ns, r.explain(img), "and pullguard will attach it")
	} else {
		id.Message = r.f.say(func() string { return anonymousMessage(p, ref, img) })
	}
	return id
}

// injectFirstAccepted injects the first candidate the registry accepts (without
// verification, the first in kubelet order). A secret already chosen for another image of
// this pod is tried first, so one secret serves both.
func (r *podResolver) injectFirstAccepted(id ImageDecision, img registryauth.Image, options []option) ImageDecision {
	id.Candidates = names(options) // reported in the kubelet's order; only the trying order changes
	if i := slices.IndexFunc(options, func(o option) bool { return slices.Contains(r.inject, o.name) }); i > 0 {
		options = append([]option{options[i]}, slices.Delete(slices.Clone(options), i, i+1)...)
	}
	i, answers := r.v.firstAccepted(img, options)
	pick := ""
	if i >= 0 {
		pick = options[i].name
		id.Outcome = Injected
		id.Message = r.f.say(func() string { return injectedMessage(id.place, id.Image, pick, r.ns, img, r.template) })
	} else {
		id.Outcome, id.Message = refused(id.place, id.Image, img, answers)
		if id.Outcome == Indeterminate {
			// Could not ask the registry: attach the kubelet's first choice unverified; the
			// failure policy decides whether the object is admitted.
			pick = options[0].name
			id.Message += fmt.Sprintf("; pull secret %q would be attached unverified", pick)
		}
	}
	if pick != "" {
		id.Secret = pick
		if !slices.Contains(r.inject, pick) {
			r.inject = append(r.inject, pick)
		}
	}
	return id
}

// secretsOwner says whose the effective pull secrets are, for messages.
func (r *podResolver) secretsOwner() string {
	if len(r.fromSA) > 0 {
		return "of service account " + quote(r.saName)
	}
	return "on the pod"
}

// explain gathers why secrets that look meant for the image do not match it.
func (r *podResolver) explain(img registryauth.Image) []string {
	why := nearMisses(r.keyring, img, r.secretsOwner())
	why = append(why, nearMisses(r.f.Secrets.Keyring(), img, "")...)
	why = append(why, r.ignored...)
	return append(why, malformedFor(r.f, img)...)
}

// patch appends the injected secrets to spec.imagePullSecrets. When the service account's
// secrets were applied here (no admission plugin ran yet), they are written out too: a pod
// that lists any secret no longer receives its service account's.
func (r *podResolver) patch() []PatchOp {
	if r.template || len(r.inject) == 0 {
		return nil
	}
	if len(r.listed) > 0 {
		ops := make([]PatchOp, len(r.inject))
		for i, name := range r.inject {
			ops[i] = PatchOp{Op: "add", Path: "/spec/imagePullSecrets/-", Value: corev1.LocalObjectReference{Name: name}}
		}
		return ops
	}
	refs := slices.Clone(r.fromSA)
	for _, name := range r.inject {
		refs = append(refs, corev1.LocalObjectReference{Name: name})
	}
	return []PatchOp{{Op: "add", Path: "/spec/imagePullSecrets", Value: refs}}
}

func covered(id ImageDecision, o Outcome, ms []registryauth.Match, msg string) ImageDecision {
	id.Outcome = o
	id.Candidates = registryauth.SecretNames(ms)
	id.Secret = id.Candidates[0]
	id.Message = msg
	return id
}

// partition splits options into those whose secret is in allowed and the rest, in order.
func partition(options []option, allowed []string) (in, out []option) {
	for _, o := range options {
		if slices.Contains(allowed, o.name) {
			in = append(in, o)
		} else {
			out = append(out, o)
		}
	}
	return in, out
}

// perSecret turns candidate matches into one option per secret, with the secret's first
// matching credential, in kubelet order.
func perSecret(ms []registryauth.Match) []option {
	if len(ms) == 0 {
		return nil
	}
	out := make([]option, 0, len(ms))
	seen := make(map[string]bool, len(ms))
	for i := range ms {
		if !seen[ms[i].Secret] {
			seen[ms[i].Secret] = true
			out = append(out, option{name: ms[i].Secret, source: secretSource(ms[i].Secret), cred: &ms[i].Credential})
		}
	}
	return out
}

func names(options []option) []string {
	out := make([]string, len(options))
	for i, o := range options {
		out[i] = o.name
	}
	return out
}

func namespaceOf(ns string, f *Facts) string {
	if ns != "" {
		return ns
	}
	return f.Namespace
}

func nameOf(name, generateName string) string {
	if name == "" && generateName != "" {
		return generateName + "*"
	}
	return name
}
