package decision

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/pullguard/pullguard/pkg/registryauth"
)

// maxExplanations bounds the near misses and malformed secrets one message lists.
const maxExplanations = 3

func coveredMessage(p place, ref, secret, key, where string) string {
	return fmt.Sprintf("%s image %q: pull secret %q %s has credentials for %s", p, ref, secret, where, key)
}

func nodeMessage(p place, ref string, img registryauth.Image) string {
	return fmt.Sprintf("%s image %q: the nodes' own credentials cover %s", p, ref, img.Registry)
}

// providerMessage words an image the kubelet's credential provider plugin serves; refused
// are the credentials tried before it that the registry refused.
func providerMessage(p place, ref string, img registryauth.Image, provider string, refused []tried) string {
	msg := fmt.Sprintf("%s image %q: the kubelet's credential provider %q covers %s (not verified: pullguard has none of its tokens)", p, ref, provider, img.Registry)
	if len(refused) > 0 {
		msg += fmt.Sprintf("; it is asked after %s, which the registry refused (%s)", refused[0].source(), describe(img, refused[0]))
	}
	return msg
}

// localMessage is the warning of an image the kubelet does not pull.
func localMessage(p place, ref string) (string, advice) {
	return fmt.Sprintf("%s image %q: imagePullPolicy is Never, so the pod runs only if the image is already on the node; "+
			"kubelets 1.35 and later (KubeletEnsureSecretPulledImages) also refuse an image the kubelet itself pulled with credentials this pod does not have", p, ref),
		advice{fix: "the pod runs only if these images are already on its node", reason: "imagePullPolicy is Never; kubelets 1.35+ (KubeletEnsureSecretPulledImages) also want this pod's credentials for images they pulled themselves"}
}

func injectedMessage(p place, ref, secret, ns string, img registryauth.Image, template bool) string {
	action := "pullguard adds it to the pod"
	if template {
		action = "pullguard will add it to the pods"
	}
	return fmt.Sprintf("%s image %q: pull secret %q of namespace %q has credentials for %s; %s", p, ref, secret, ns, img.Registry, action)
}

func anonymousMessage(p place, ref string, img registryauth.Image) string {
	return fmt.Sprintf("%s image %q: no credentials match %s; the kubelet pulls it anonymously", p, ref, img.Registry)
}

// missingMessage is the rejection of SPEC section 5: what failed, why nearby secrets did not
// match, and the command that fixes it. tail says what pullguard then does.
func missingMessage(p place, ref string, img registryauth.Image, ns string, why []string, tail string) (string, advice) {
	a := advice{fix: fmt.Sprintf("create a pull secret for %s: %s", img.Registry, createSecretShell(img, ns))}
	if len(why) > 0 {
		a.reason = why[0]
	}
	return fmt.Sprintf("%s image %q: no pull secret in namespace %q has credentials for %s%s; %s %s",
		p, ref, ns, img.Registry, because(why), createSecretCommand(img, ns), tail), a
}

func createSecretCommand(img registryauth.Image, ns string) string {
	return fmt.Sprintf("create one with '%s'", createSecretShell(img, ns))
}

func createSecretShell(img registryauth.Image, ns string) string {
	return fmt.Sprintf("oc create secret docker-registry <name> --docker-server=%s --docker-username=... --docker-password=... -n %s", img.Registry, ns)
}

func mountableMessage(p place, ref string, img registryauth.Image, secret, sa, ns string) (string, advice) {
	return fmt.Sprintf("%s image %q: pull secret %q of namespace %q has credentials for %s, but service account %q enforces mountable secrets and does not list it; link it with 'oc secrets link %s %s --for=pull -n %s'",
			p, ref, secret, ns, img.Registry, sa, sa, secret, ns),
		advice{
			fix:    fmt.Sprintf("link pull secret %q to service account %q: oc secrets link %s %s --for=pull -n %s", secret, sa, sa, secret, ns),
			reason: fmt.Sprintf("the account enforces mountable secrets; the secret has credentials for %s", img.Registry),
		}
}

func brokenSecretMessage(p place, ref string, err *registryauth.SecretError) (string, advice) {
	reason := err.Fault.Error()
	if err.Detail != "" {
		reason += ": " + err.Detail
	}
	return fmt.Sprintf("%s image %q: %v; the kubelet fails every pull of this pod until the secret is fixed or removed from imagePullSecrets", p, ref, err),
		advice{fix: fmt.Sprintf("fix pull secret %q or remove it from imagePullSecrets", err.Secret), reason: reason + "; the kubelet fails every pull of this pod"}
}

func invalidReferenceMessage(p place, ref string, err error) (string, advice) {
	if inner := errors.Unwrap(err); inner != nil {
		err = inner
	}
	return fmt.Sprintf("%s image %q: not a valid image reference (%v); the kubelet cannot pull it", p, ref, err),
		advice{fix: fmt.Sprintf("fix image reference %q", ref), reason: err.Error()}
}

// because renders explanations as a parenthesis, bounded.
func because(why []string) string {
	if len(why) == 0 {
		return ""
	}
	more := ""
	if len(why) > maxExplanations {
		more = fmt.Sprintf("; and %d more", len(why)-maxExplanations)
		why = why[:maxExplanations]
	}
	return " (" + strings.Join(why, "; ") + more + ")"
}

// nearMisses explains the keys of k that look meant for the image but do not match it. Only
// keys that could be meant for it are looked at, within registryauth.NearMissBudget.
func nearMisses(ctx context.Context, k *registryauth.Keyring, img registryauth.Image, where string) []string {
	var out []string
	for _, miss := range k.NearMisses(ctx, img) {
		for _, name := range miss.Secrets {
			s := "secret " + quote(name)
			if where != "" {
				s += " " + where
			}
			out = append(out, s+": "+miss.Why)
		}
	}
	return out
}

// malformedFor names the namespace's malformed secrets that may have been meant for the
// image: those whose readable keys match it or nearly do, and those with no readable key.
func malformedFor(f *Facts, img registryauth.Image) []string {
	var out []string
	ctx := f.ctx()
	for _, s := range f.Secrets.Malformed() {
		if ctx.Err() != nil {
			break
		}
		if s.MeantFor(ctx, img) {
			out = append(out, s.Err.Error()+", so it was skipped")
		}
	}
	return out
}

func quote(s string) string { return fmt.Sprintf("%q", s) }

// anonymousVerdict words the outcome of an anonymous probe. Every outcome but Anonymous
// fails or is undecided, so is worded even when only failures are wanted.
func anonymousVerdict(p place, ref string, img registryauth.Image, ns string, o Outcome, vd registryauth.Verdict, why []string) (string, advice) {
	switch o {
	case Anonymous:
		return fmt.Sprintf("%s image %q: no credentials match %s and it serves the image anonymously", p, ref, img.Registry), advice{}
	case Missing:
		if vd.Definite() {
			why = append([]string{fmt.Sprintf("%s answered %s to an anonymous request", img.Registry, httpStatus(vd))}, why...)
		} else {
			why = append([]string{fmt.Sprintf("%s could not be reached (%s) and --private-registries lists it", img.Registry, vd.Reason)}, why...)
		}
		return missingMessage(p, ref, img, ns, why, "and pullguard will attach it")
	case Rejected:
		return fmt.Sprintf("%s image %q: %s", p, ref, missingManifest(img, vd)), missingManifestAdvice(img, vd)
	default:
		return fmt.Sprintf("%s image %q: could not verify with %s: %s", p, ref, img.Registry, vd.Reason), undecidedAdvice(img, vd)
	}
}

// refusedAdvice is the fix for an image every credential of which the registry refused: a
// missing tag first (no credential helps), else the kubelet's first credential's fault.
func refusedAdvice(img registryauth.Image, answers []tried) advice {
	if len(answers) == 0 {
		return advice{}
	}
	for _, a := range answers {
		if !a.verdict.Definite() {
			return undecidedAdvice(img, a.verdict)
		}
	}
	for _, a := range answers {
		if a.verdict.Status == registryauth.ProbeNotFound {
			return missingManifestAdvice(img, a.verdict)
		}
	}
	a := answers[0]
	status := httpStatus(a.verdict)
	switch a.verdict.Status {
	case registryauth.ProbeUnauthorized:
		return advice{fix: fmt.Sprintf("renew the credentials in %s for %s", a.source(), img.Registry), reason: fmt.Sprintf("the registry refused them: %s; the token may have expired", status)}
	case registryauth.ProbeForbidden:
		return advice{fix: fmt.Sprintf("grant the credentials in %s pull access to %s/%s", a.source(), img.Registry, img.Repository), reason: "the registry refused access: " + status}
	}
	return advice{fix: fmt.Sprintf("check the credentials in %s for %s", a.source(), img.Registry), reason: describe(img, a)}
}

func missingManifestAdvice(img registryauth.Image, vd registryauth.Verdict) advice {
	what := fmt.Sprintf("tag %q", img.Tag)
	if img.Digest != "" {
		what = "digest " + img.Digest
	}
	return advice{fix: fmt.Sprintf("fix the image reference: %s does not exist in %s/%s", what, img.Registry, img.Repository), reason: httpStatus(vd)}
}

// undecidedAdvice has no fix to offer: pullguard could not ask the registry, and the
// namespace's failure policy decided.
func undecidedAdvice(img registryauth.Image, vd registryauth.Verdict) advice {
	return advice{fix: "could not verify images of " + img.Registry, reason: vd.Reason}
}
