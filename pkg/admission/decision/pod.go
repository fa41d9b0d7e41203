package decision

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/pullguard/pullguard/pkg/registryauth"
	"github.com/pullguard/pullguard/pkg/registryauth/mirrors"
)

const (
	// EnforceMountableAnnotation on a service account makes the ServiceAccount admission
	// plugin refuse pods whose imagePullSecrets the account does not list.
	EnforceMountableAnnotation = "kubernetes.io/enforce-mountable-secrets"
	// InjectedAnnotation on a pod names the pull secrets pullguard added, comma-separated,
	// so `oc describe pod` shows where an imagePullSecret came from.
	InjectedAnnotation    = "pullguard.io/injected"
	defaultServiceAccount = "default"
)

// Pod decides a Pod on CREATE: every image of its containers, init and ephemeral containers
// and image volumes, and the patch that appends the secrets it injects.
func Pod(pod *corev1.Pod, f *Facts) *Decision {
	d := &Decision{Kind: "Pod", Namespace: namespaceOf(pod.Namespace, f), Name: nameOf(pod.Name, pod.GenerateName)}
	r := newPodResolver(&pod.Spec, f, false)
	r.decide(d, &pod.Spec)
	d.Patch = r.patch()
	if len(d.Patch) > 0 {
		d.Patch = append(d.Patch, annotateInjected(pod.Annotations, r.inject))
	}
	d.Probes = r.v.requests
	d.Questions = r.acc.questions
	if r.await {
		d.AwaitDockercfg = []string{r.saName}
	}
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
	d.Questions = r.acc.questions
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

	// The internal registry's rules (internal_pod.go).
	acc         access
	saDockercfg string // the account's dockercfg secret, named on the account
	await       bool   // an image waits for the account to name one
	notes       []string
}

func newPodResolver(spec *corev1.PodSpec, f *Facts, template bool) *podResolver {
	r := &podResolver{f: f, ns: f.Namespace, template: template, listed: spec.ImagePullSecrets, keyring: &registryauth.Keyring{}, v: newVerifier(f), acc: access{answers: f.Answers}}
	r.saName = spec.ServiceAccountName
	if r.saName == "" {
		r.saName = spec.DeprecatedServiceAccount
	}
	if r.saName == "" {
		r.saName = defaultServiceAccount
	}
	sa, haveSA := f.serviceAccount(r.saName)
	if haveSA && len(f.InternalRegistries) > 0 {
		r.saDockercfg = DockercfgSecret(sa)
	}
	effective := spec.ImagePullSecrets
	if len(effective) == 0 && !f.ServiceAccountApplied && haveSA {
		r.fromSA = sa.ImagePullSecrets
		effective = sa.ImagePullSecrets
	}
	if haveSA && enforcesMountable(sa) {
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

// podImage is one image reference of a pod, and what the first pass learnt about it.
type podImage struct {
	place place
	ref   string
	never bool // imagePullPolicy: Never
	img   registryauth.Image
	err   error

	offers  []option // namespace secrets that could serve it, in kubelet order
	blocked []option // offers enforce-mountable-secrets forbids
	refused []tried  // with verification: every offer, refused by the registry

	project   string // the image's project, when it is on the internal registry
	internal  bool
	notReady  bool // waited for the account's dockercfg secret in vain
	unreached bool // offers not injected: the kubelet's credential reaches no endpoint

	route *mirrors.Route // where the runtime pulls it from; nil when no mirror applies
}

// decide resolves the pod's images in two passes, as the kubelet will see them. The first
// chooses what to inject for the images the pod's own secrets do not cover; the second
// resolves every image against the final pod, whose secret list now holds the injected
// secrets too: one injected for an image can change what the kubelet tries for another
// (a docker.io key ends the index.docker.io fallback of every Docker Hub image).
func (r *podResolver) decide(d *Decision, spec *corev1.PodSpec) {
	images := r.images(spec)
	for i := range images {
		r.choose(&images[i])
	}
	final := r.keyring
	if len(r.inject) > 0 {
		final = registryauth.NewKeyring(r.finalSecrets()...)
	}
	d.Images = slices.Grow(d.Images, len(images))
	for i := range images {
		d.Images = append(d.Images, r.checkInternal(r.resolve(&images[i], final), &images[i], final))
	}
	d.Notes = append(d.Notes, r.notes...)
}

func (r *podResolver) images(spec *corev1.PodSpec) []podImage {
	n := len(spec.Containers) + len(spec.InitContainers) + len(spec.EphemeralContainers)
	for i := range spec.Volumes {
		if spec.Volumes[i].Image != nil {
			n++
		}
	}
	out := make([]podImage, 0, n)
	add := func(p place, ref string, policy corev1.PullPolicy) {
		if ref == "" {
			return // the API server's validation refuses it; nothing to pull
		}
		pi := podImage{place: p, ref: ref, never: policy == corev1.PullNever}
		pi.img, pi.err = registryauth.ParseImage(ref)
		if pi.err == nil {
			pi.project, pi.internal = r.f.internalProject(pi.img)
			pi.route = r.f.routeOf(pi.img)
		}
		out = append(out, pi)
	}
	for _, c := range spec.Containers {
		add(place{inContainer, c.Name}, c.Image, c.ImagePullPolicy)
	}
	for _, c := range spec.InitContainers {
		add(place{inInitContainer, c.Name}, c.Image, c.ImagePullPolicy)
	}
	for _, c := range spec.EphemeralContainers {
		add(place{inEphemeralContainer, c.Name}, c.Image, c.ImagePullPolicy)
	}
	for _, v := range spec.Volumes {
		if v.Image != nil {
			add(place{inImageVolume, v.Name}, v.Image.Reference, v.Image.PullPolicy)
		}
	}
	return out
}

// choose picks the namespace secret to inject for an image the pod's own secrets do not
// cover: the first in kubelet order, or with verification the first the registry accepts.
// It injects even when the nodes' credentials match too: the kubelet tries the pod's
// secrets first and keeps the node's as its fallback, and a cluster-wide pull secret
// rarely reads a team's private repository.
func (r *podResolver) choose(pi *podImage) {
	if pi.err != nil || pi.never || r.broken != nil || len(r.keyring.Lookup(pi.img)) > 0 {
		return
	}
	if pi.internal && r.chooseInternal(pi) {
		return
	}
	options := perSecret(r.f.Secrets.Candidates(pi.img))
	pi.offers = options
	if r.enforce {
		pi.offers, pi.blocked = partition(options, r.allowed)
	}
	if len(pi.offers) == 0 {
		return
	}
	if pi.route != nil && !kubeletReaches(pi.route) {
		// CRI-O sends the kubelet's credential to no endpoint (or there is none): a pull
		// secret would not help, and the image's message says what would.
		pi.unreached = true
		return
	}
	// A secret already chosen for another image of this pod is tried first, so one secret
	// serves both; candidates are still reported in the kubelet's order.
	trying := pi.offers
	if i := slices.IndexFunc(trying, func(o option) bool { return slices.Contains(r.inject, o.name) }); i > 0 {
		trying = append([]option{trying[i]}, slices.Delete(slices.Clone(trying), i, i+1)...)
	}
	if pi.route != nil {
		r.chooseMirrored(pi, trying)
		return
	}
	i, answers := r.v.firstAccepted(pi.img, trying)
	switch {
	case i >= 0:
		r.add(trying[i].name)
	case !allDefinite(answers):
		// Could not ask the registry: attach the kubelet's first choice unverified; the
		// failure policy decides whether the object is admitted.
		r.add(trying[0].name)
	default:
		pi.refused = answers // attaching a refused secret would not help
	}
}

func (r *podResolver) add(name string) {
	if !slices.Contains(r.inject, name) {
		r.inject = append(r.inject, name)
	}
}

func (r *podResolver) injected(name string) bool { return slices.Contains(r.inject, name) }

// finalSecrets returns the usable pull secrets of the final pod, in its imagePullSecrets
// order: the effective ones, then those injected.
func (r *podResolver) finalSecrets() []*registryauth.PullSecret {
	var out []*registryauth.PullSecret
	for _, name := range append(r.effective(), r.inject...) {
		if s, ok := r.f.secret(name); ok && s.Usable() {
			out = append(out, s)
		}
	}
	return out
}

func (r *podResolver) effective() []string {
	refs := r.listed
	if len(refs) == 0 {
		refs = r.fromSA
	}
	out := make([]string, 0, len(refs))
	for _, ref := range refs {
		out = append(out, ref.Name)
	}
	return out
}

// resolve decides one image against the final pod: the credentials the kubelet will try, in
// its order (the pod's secrets, the nodes' config, the credential provider plugins), and
// with verification the first of them the registry accepts.
func (r *podResolver) resolve(pi *podImage, final *registryauth.Keyring) ImageDecision {
	p, ref := pi.place, pi.ref
	id := ImageDecision{Container: p.name, Image: ref, Candidates: []string{}, place: p}
	if pi.err != nil {
		id.Outcome = Rejected
		id.Message, id.advice = invalidReferenceMessage(p, ref, pi.err)
		return id
	}
	img := pi.img
	id.Registry, id.Repository = img.Registry, img.Repository
	if pi.never {
		id.Outcome = Local
		id.Message, id.advice = localMessage(p, ref)
		return id
	}
	if r.broken != nil {
		id.Outcome = Rejected
		id.Secret = r.broken.Name
		id.Message, id.advice = brokenSecretMessage(p, ref, r.broken.Err)
		return id
	}
	podMs := final.Lookup(img)
	options := append(optionsOf(podMs), nodeOptions(r.f.Node.Lookup(img))...)
	provider, byProvider := registryauth.ProviderFor(r.f.Providers, img)
	if len(options) == 0 && !byProvider && pi.internal {
		if id, ok := r.internalUncredentialed(id, pi); ok {
			return id
		}
	}
	if pi.route != nil {
		return r.resolveMirrored(id, pi, podMs, options, provider, byProvider)
	}
	if len(options) == 0 && !byProvider {
		return r.uncredentialed(id, pi)
	}

	// The outcome names whose credential the kubelet tries first.
	id.Outcome = Node
	switch {
	case len(podMs) > 0 && r.injected(podMs[0].Secret):
		id.Outcome = Injected
	case len(podMs) > 0:
		id.Outcome = Covered
	}
	r.candidates(&id, pi, podMs, options, provider, byProvider)
	var answers []tried
	if len(options) > 0 {
		var i int
		i, answers = r.v.firstAccepted(img, options)
		if i >= 0 {
			o := options[i]
			id.Secret = o.name
			switch {
			case o.node:
				id.Outcome = Node
			case r.injected(o.name):
				id.Outcome = Injected
			default:
				id.Outcome = Covered
			}
			id.Message = r.f.say(func() string { return r.usedMessage(id, img, o, answers) })
			return id
		}
	}
	if byProvider {
		// Every credential pullguard can ask about was refused or none matched: the kubelet
		// then asks the provider, whose token pullguard does not have.
		id.Outcome, id.Secret = Node, providerName(provider)
		id.Message = r.f.say(func() string { return providerMessage(p, ref, img, provider.Name, answers) })
		return id
	}
	id.Outcome, id.Message, id.advice = refused(p, ref, img, append(slices.Clone(pi.refused), answers...))
	if id.Outcome == Indeterminate && len(podMs) > 0 && r.injected(podMs[0].Secret) {
		id.Secret = podMs[0].Secret
		id.Message += fmt.Sprintf("; pull secret %q would be attached unverified", id.Secret)
	}
	return id
}

// candidates sets the credentials the kubelet tries for an image, in its order, and its
// first choice as the image's secret, until the registry says otherwise. When that choice
// was injected, the candidates are the namespace's offers instead of the pod's secrets.
func (r *podResolver) candidates(id *ImageDecision, pi *podImage, podMs []registryauth.Match, options []option, provider registryauth.CredentialProvider, byProvider bool) {
	id.Candidates = candidateNames(options, provider, byProvider)
	id.Secret = id.Candidates[0]
	if len(podMs) > 0 && r.injected(podMs[0].Secret) && len(pi.offers) > 0 {
		id.Candidates = append(names(pi.offers), nodeNames(options)...)
		if byProvider {
			id.Candidates = append(id.Candidates, providerName(provider))
		}
	}
}

// uncredentialed decides an image for which the final pod holds no credential: every offer
// was refused, or enforce-mountable-secrets forbids them, or nothing matches at all.
func (r *podResolver) uncredentialed(id ImageDecision, pi *podImage) ImageDecision {
	p, ref, img := pi.place, pi.ref, pi.img
	switch {
	case len(pi.refused) > 0:
		id.Candidates = names(pi.offers)
		id.Outcome, id.Message, id.advice = refused(p, ref, img, pi.refused)
		return id
	case len(pi.blocked) > 0:
		id.Outcome = Missing
		id.Message, id.advice = mountableMessage(p, ref, img, pi.blocked[0].name, r.saName, r.ns)
		return id
	}
	if outcome, vd, ok := r.v.verifyAnonymous(r.f, img); ok {
		id.Outcome = outcome
		id.Message, id.advice = anonymousVerdict(p, ref, img, r.ns, outcome, vd, r.explain(img))
		return id
	}
	id.Outcome = r.f.anonymousOutcome(img)
	if id.Outcome == Missing {
		id.Message, id.advice = missingMessage(p, ref, img, r.ns, r.explain(img), "and pullguard will attach it")
	} else {
		id.Message = r.f.say(func() string { return anonymousMessage(p, ref, img) })
	}
	return id
}

// usedMessage words an image that will pull with credential o, noting the credentials the
// kubelet tries first in vain.
func (r *podResolver) usedMessage(id ImageDecision, img registryauth.Image, o option, refusedFirst []tried) string {
	var msg string
	switch {
	case o.node:
		msg = nodeMessage(id.place, id.Image, img)
	case id.Outcome == Injected:
		msg = injectedMessage(id.place, id.Image, o.name, r.ns, img, r.template)
	default:
		msg = coveredMessage(id.place, id.Image, o.name, o.key, r.secretsOwner())
	}
	if len(refusedFirst) > 0 {
		msg += fmt.Sprintf("; the kubelet first tries %s in vain (%s)", refusedFirst[0].source(), describe(img, refusedFirst[0]))
	}
	return msg
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
	why := nearMisses(r.f.ctx(), r.keyring, img, r.secretsOwner())
	why = append(why, nearMisses(r.f.ctx(), r.f.Secrets.Keyring(), img, "")...)
	why = append(why, r.ignored...)
	why = append(why, malformedFor(r.f, img)...)
	// A hinted secret is named for the images its ignored credentials were meant for. Past
	// maxExplanations a message only counts them: the name stands in, unworded.
	for _, s := range r.f.Secrets.Hinted() {
		if !s.HintMeantFor(r.f.ctx(), img) {
			continue
		}
		if len(why) >= maxExplanations {
			why = append(why, s.Name)
			continue
		}
		why = append(why, s.Hint.Error())
	}
	return why
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

// annotateInjected records the injected secrets in the pod's InjectedAnnotation. A pod
// without annotations gets the map; "add" to an existing key replaces its value.
func annotateInjected(annotations map[string]string, inject []string) PatchOp {
	value := strings.Join(inject, ",")
	if annotations == nil {
		return PatchOp{Op: "add", Path: "/metadata/annotations", Value: map[string]string{InjectedAnnotation: value}}
	}
	// JSON pointer (RFC 6901): "/" in a key is written "~1" ("~" as "~0").
	key := strings.NewReplacer("~", "~0", "/", "~1").Replace(InjectedAnnotation)
	return PatchOp{Op: "add", Path: "/metadata/annotations/" + key, Value: value}
}

func covered(id ImageDecision, o Outcome, names []string, msg string) ImageDecision {
	id.Outcome = o
	id.Candidates = names
	id.Secret = id.Candidates[0]
	id.Message = msg
	return id
}

// enforcesMountable reports whether the ServiceAccount admission plugin limits the account's
// pods to the secrets it lists: it reads the annotation with strconv.ParseBool, so "True",
// "1" and "t" count too.
func enforcesMountable(sa *corev1.ServiceAccount) bool {
	enforce, _ := strconv.ParseBool(sa.Annotations[EnforceMountableAnnotation])
	return enforce
}

// allDefinite reports whether every answer is the registry's own.
func allDefinite(answers []tried) bool {
	for _, a := range answers {
		if !a.verdict.Definite() {
			return false
		}
	}
	return true
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
			out = append(out, option{name: ms[i].Secret, cred: &ms[i].Credential})
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
