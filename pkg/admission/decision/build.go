package decision

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/pullguard/pullguard/pkg/admission/openshift"
	"github.com/pullguard/pullguard/pkg/registryauth"
)

// InternalRegistry is OpenShift's integrated registry, where image stream references resolve.
const InternalRegistry = "image-registry.openshift-image-registry.svc:5000"

// buildImage is one image of a BuildConfig and the secret field that goes with it.
type buildImage struct {
	label       string // spec.strategy.sourceStrategy.from
	parent      string // JSON pointer of the object holding the secret field
	secretField string // pullSecret or pushSecret
	from        *corev1.ObjectReference
	secret      *corev1.LocalObjectReference
	push        bool
}

// BuildConfig decides a BuildConfig on CREATE or UPDATE: the images of its strategy and
// source (pulls) and its output (push). The build controller fills an unset secret field
// from the build's service account, first matching secret; so a service account match is
// covered, a namespace match sets the field, and no credential is missing.
func BuildConfig(bc *openshift.BuildConfig, f *Facts) *Decision {
	d := &Decision{Kind: "BuildConfig", Namespace: namespaceOf(bc.Namespace, f), Name: bc.Name}
	b := newBuildResolver(bc, f, d.Namespace)
	for _, bi := range buildImages(bc) {
		if id, ok := b.resolve(bi); ok {
			d.Images = append(d.Images, b.checkInternal(id, bi))
		}
	}
	d.Patch = b.patch
	d.Probes = b.v.requests
	d.Questions = b.acc.questions
	d.Notes = append(d.Notes, b.notes...)
	return d
}

func buildImages(bc *openshift.BuildConfig) []buildImage {
	var out []buildImage
	s := bc.Spec.Strategy
	switch {
	case s.SourceStrategy != nil:
		out = append(out, buildImage{label: "spec.strategy.sourceStrategy.from", parent: "/spec/strategy/sourceStrategy", secretField: "pullSecret", from: &s.SourceStrategy.From, secret: s.SourceStrategy.PullSecret})
	case s.DockerStrategy != nil && s.DockerStrategy.From != nil:
		out = append(out, buildImage{label: "spec.strategy.dockerStrategy.from", parent: "/spec/strategy/dockerStrategy", secretField: "pullSecret", from: s.DockerStrategy.From, secret: s.DockerStrategy.PullSecret})
	case s.CustomStrategy != nil:
		out = append(out, buildImage{label: "spec.strategy.customStrategy.from", parent: "/spec/strategy/customStrategy", secretField: "pullSecret", from: &s.CustomStrategy.From, secret: s.CustomStrategy.PullSecret})
	}
	for i := range bc.Spec.Source.Images {
		src := &bc.Spec.Source.Images[i]
		out = append(out, buildImage{label: fmt.Sprintf("spec.source.images[%d].from", i), parent: fmt.Sprintf("/spec/source/images/%d", i), secretField: "pullSecret", from: &src.From, secret: src.PullSecret})
	}
	if o := bc.Spec.Output; o.To != nil {
		out = append(out, buildImage{label: "spec.output.to", parent: "/spec/output", secretField: "pushSecret", from: o.To, secret: o.PushSecret, push: true})
	}
	return out
}

type buildResolver struct {
	f           *Facts
	ns          string
	saName      string
	saSecrets   []*registryauth.PullSecret // usable secrets of the service account, in its order
	saDockercfg string                     // the account's secret for the internal registry
	patch       []PatchOp
	v           *verifier
	acc         access // the internal registry's questions (internal_build.go)
	notes       []string
}

func newBuildResolver(bc *openshift.BuildConfig, f *Facts, ns string) *buildResolver {
	b := &buildResolver{f: f, ns: ns, saName: bc.Spec.ServiceAccount, v: newVerifier(f), acc: access{answers: f.Answers}}
	if b.saName == "" {
		b.saName = openshift.DefaultBuildServiceAccount
	}
	sa, ok := f.serviceAccount(b.saName)
	if !ok {
		return b
	}
	// The build controller looks through the account's secrets; `oc secrets link builder X`
	// puts them there, and --for=pull under imagePullSecrets, so both count, in that order.
	var names []string
	for _, ref := range sa.Secrets {
		names = append(names, ref.Name)
	}
	for _, ref := range sa.ImagePullSecrets {
		names = append(names, ref.Name)
	}
	for _, name := range names {
		if b.saDockercfg == "" && strings.HasPrefix(name, b.saName+"-dockercfg-") {
			b.saDockercfg = name
		}
		if s, ok := f.secret(name); ok && s.Usable() && !slices.Contains(b.saSecrets, s) {
			b.saSecrets = append(b.saSecrets, s)
		}
	}
	return b
}

func (b *buildResolver) resolve(bi buildImage) (ImageDecision, bool) {
	p := place{inBuild, bi.label}
	id := ImageDecision{Container: bi.label, Candidates: []string{}, place: p}
	switch bi.from.Kind {
	case openshift.KindImageStreamTag, openshift.KindImageStreamImage:
		return b.imageStream(id, bi), true
	case openshift.KindDockerImage:
	default:
		return id, false
	}
	ref := bi.from.Name
	id.Image = ref
	img, err := registryauth.ParseImage(ref)
	if err != nil {
		id.Outcome = Rejected
		id.Message, id.advice = invalidReferenceMessage(p, ref, err)
		return id, true
	}
	id.Registry, id.Repository = img.Registry, img.Repository
	if bi.secret != nil && bi.secret.Name != "" {
		return b.explicit(id, bi, img), true
	}
	// Registries are asked about pulls only: a manifest request cannot tell whether a
	// credential may push.
	v := b.v
	if bi.push {
		v = &verifier{}
	}
	for _, s := range b.saSecrets {
		if ms := registryauth.NewKeyring(s).Lookup(img); len(ms) > 0 {
			id = covered(id, Covered, registryauth.SecretNames(ms), coveredMessage(p, ref, ms[0].Secret, ms[0].Key, "of service account "+quote(b.saName)))
			return v.check(id, img, optionsOf(ms)), true
		}
	}
	if !bi.push {
		if options := nodeOptions(b.f.Node.Lookup(img)); len(options) > 0 {
			id = covered(id, Node, nodeNames(options), nodeMessage(p, ref, img))
			return v.check(id, img, options), true
		}
	}
	if options := perSecret(b.f.Secrets.Candidates(img)); len(options) > 0 {
		id.Candidates = names(options)
		i, answers := v.firstAccepted(img, options)
		if i < 0 {
			id.Outcome, id.Message, id.advice = refused(p, ref, img, answers)
			if id.Outcome == Rejected {
				return id, true
			}
			i = 0
			id.Message += fmt.Sprintf("; %s %q would be set unverified", bi.secretField, options[0].name)
		} else {
			id.Outcome = Injected
			id.Message = fmt.Sprintf("%s image %q: pull secret %q of namespace %q has credentials for %s; pullguard sets %s", p, ref, options[i].name, b.ns, img.Registry, b.field(bi))
		}
		id.Secret = options[i].name
		b.patch = append(b.patch, PatchOp{Op: "add", Path: bi.parent + "/" + bi.secretField, Value: corev1.LocalObjectReference{Name: id.Secret}})
		return id, true
	}
	if outcome, vd, ok := v.verifyAnonymous(b.f, img); ok {
		id.Outcome = outcome
		id.Message, id.advice = anonymousVerdict(p, ref, img, b.ns, outcome, vd, nil)
		return id, true
	}
	id.Outcome = Missing
	if !bi.push {
		id.Outcome = b.f.anonymousOutcome(img)
	}
	if id.Outcome == Anonymous {
		id.Message = anonymousMessage(p, ref, img)
		return id, true
	}
	why := nearMisses(b.f.ctx(), b.f.Secrets.Keyring(), img, "")
	why = append(why, malformedFor(b.f, img)...)
	if len(b.saSecrets) > 0 {
		why = append([]string{fmt.Sprintf("none of service account %q's secrets matches", b.saName)}, why...)
	}
	id.Message, id.advice = missingMessage(p, ref, img, b.ns, why, "and pullguard will set "+b.field(bi))
	return id, true
}

// explicit decides an image whose secret field is set: the build uses exactly that secret.
func (b *buildResolver) explicit(id ImageDecision, bi buildImage, img registryauth.Image) ImageDecision {
	p, ref, name := id.place, id.Image, bi.secret.Name
	s, ok := b.f.secret(name)
	switch {
	case !ok:
		id.Outcome, id.Secret = Rejected, name
		id.Message = fmt.Sprintf("%s image %q: %s %q is not a pull secret of namespace %q; the build cannot use it", p, ref, bi.secretField, name, b.ns)
		return id
	case !s.Usable():
		id.Outcome, id.Secret = Rejected, name
		id.Message = fmt.Sprintf("%s image %q: %v; the build cannot read it", p, ref, s.Err)
		return id
	}
	if ms := registryauth.NewKeyring(s).Lookup(img); len(ms) > 0 {
		id = covered(id, Covered, registryauth.SecretNames(ms), coveredMessage(p, ref, ms[0].Secret, ms[0].Key, "set in "+bi.secretField))
		if bi.push {
			return id
		}
		return b.v.check(id, img, optionsOf(ms))
	}
	id.Outcome = Missing
	if !bi.push {
		id.Outcome = b.f.anonymousOutcome(img)
	}
	fix := createSecretCommand(img, b.ns) + " and set " + b.field(bi) + " to it"
	if candidates := registryauth.SecretNames(b.f.Secrets.Candidates(img)); len(candidates) > 0 {
		fix = fmt.Sprintf("set %s to %q, which has them", b.field(bi), candidates[0])
	}
	id.Message = fmt.Sprintf("%s image %q: %s %q has no credentials for %s; %s", p, ref, bi.secretField, name, img.Registry, fix)
	if id.Outcome == Anonymous {
		id.Message += "; until then the build pulls it anonymously"
	}
	return id
}

// imageStream decides an ImageStreamTag or ImageStreamImage: the internal registry, which
// the build's service account reaches with its dockercfg secret.
func (b *buildResolver) imageStream(id ImageDecision, bi buildImage) ImageDecision {
	ns := bi.from.Namespace
	if ns == "" {
		ns = b.ns
	}
	stream, _, _ := strings.Cut(bi.from.Name, ":")
	stream, _, _ = strings.Cut(stream, "@")
	id.Image = bi.from.Name
	id.Registry, id.Repository = InternalRegistry, ns+"/"+stream
	id.Outcome = Covered
	id.Secret = b.saDockercfg
	if bi.secret != nil && bi.secret.Name != "" {
		id.Secret = bi.secret.Name
	}
	if id.Secret != "" {
		id.Candidates = []string{id.Secret}
	}
	id.Message = fmt.Sprintf("%s %s %q: internal registry, reached with service account %q's credentials", bi.label, bi.from.Kind, bi.from.Name, b.saName)
	return id
}

// field names the secret field of the image for people: spec.source.images[0].pullSecret.
func (b *buildResolver) field(bi buildImage) string {
	owner, _ := strings.CutSuffix(bi.label, ".from")
	owner, _ = strings.CutSuffix(owner, ".to")
	return owner + "." + bi.secretField
}
