package kubelet

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/kubernetes/pkg/credentialprovider"

	"github.com/pullguard/pullguard/pkg/admission/decision"
	"github.com/pullguard/pullguard/pkg/registryauth"
)

// finding is one disagreement between pullguard and the kubelet on a case.
type finding struct {
	// Kind groups findings for shrinking and counting: a shrunk case must still show a
	// finding of the same kind.
	Kind   string
	Image  string
	Detail string
	// Sig abstracts the finding from names (which sources are pod secrets or node
	// credentials, in which positions), so the same bug seen on many pods counts once.
	Sig string
}

func (f finding) String() string {
	if f.Image == "" {
		return fmt.Sprintf("[%s] %s", f.Kind, f.Detail)
	}
	return fmt.Sprintf("[%s] image %q: %s", f.Kind, f.Image, f.Detail)
}

// Finding kinds.
const (
	kindCandidates   = "candidates"    // Candidates differ from the kubelet's sources
	kindOutcome      = "outcome"       // outcome or secret does not follow from the kubelet's sources
	kindSecondPatch  = "second-patch"  // deciding the final pod patches it again
	kindInjectedList = "injected-list" // the final pod's added secrets are not the injected ones
	kindBrokenInject = "broken-inject" // an injected secret makes the kubelet fail every pull
	kindNotInjected  = "not-injected"  // a namespace secret would give the kubelet a credential, none was injected
	kindFirst        = "first"         // the first decision (what admission and `check` report) does not describe the final pod
	kindOracle       = "oracle"        // the test itself could not run the case
)

// pullguard runs pullguard's pure core on a case the way the webhook does: the namespace's
// secrets indexed, the node's config.json as a keyring, the ServiceAccount plugin already
// applied. It returns the first decision, the pod after its patch, and the decision on it.
func pullguard(c podCase) (first, final *decision.Decision, finalPod *corev1.Pod, err error) {
	ns := c.namespace()
	var parsed []*registryauth.PullSecret
	for _, s := range c.Secrets {
		sec := ns[s.Name]
		parsed = append(parsed, registryauth.ParseSecret(sec.Name, sec.Type, sec.Data))
	}
	facts := &decision.Facts{Namespace: testNamespace, Secrets: registryauth.NewSecretIndex(parsed), ServiceAccountApplied: true}
	if !c.NodeNil {
		facts.Node = registryauth.NewKeyring(registryauth.ParseConfigFile(nodeSourceName, nodeConfig(c.Node)))
	}
	pod := c.pod()
	first = decision.Pod(pod, facts)
	finalPod, err = applyPatch(pod, first.Patch)
	if err != nil {
		return nil, nil, nil, err
	}
	return first, decision.Pod(finalPod, facts), finalPod, nil
}

// applyPatch applies a decision's JSON patch with the library the API server applies
// mutating webhooks' patches with.
func applyPatch(pod *corev1.Pod, ops []decision.PatchOp) (*corev1.Pod, error) {
	if len(ops) == 0 {
		return pod.DeepCopy(), nil
	}
	patch, err := jsonpatch.DecodePatch(mustJSON(ops))
	if err != nil {
		return nil, fmt.Errorf("decoding pullguard's patch %s: %w", mustJSON(ops), err)
	}
	patched, err := patch.Apply(mustJSON(pod))
	if err != nil {
		return nil, fmt.Errorf("applying pullguard's patch %s: %w", mustJSON(ops), err)
	}
	out := &corev1.Pod{}
	return out, json.Unmarshal(patched, out)
}

// check compares pullguard with the kubelet on one case. stats, when not nil, counts what
// the case exercised, to show the generator reaches the interesting shapes.
func check(node *kubeletNode, c podCase, stats map[string]int) []finding {
	first, final, finalPod, err := pullguard(c)
	if err != nil {
		return []finding{{Kind: kindOracle, Sig: "setup", Detail: err.Error()}}
	}
	nodeKeyring, err := node.keyring(nodeConfig(c.Node))
	if err != nil {
		return []finding{{Kind: kindOracle, Sig: "setup", Detail: err.Error()}}
	}
	ns := c.namespace()
	var out []finding

	count := func(what string) {
		if stats != nil {
			stats[what]++
		}
	}
	if len(first.Patch) > 0 {
		count("pods patched")
	}
	for _, id := range first.Images {
		count("first decision: " + string(id.Outcome))
	}
	if len(final.Patch) > 0 {
		out = append(out, finding{Kind: kindSecondPatch, Sig: "patched again", Detail: fmt.Sprintf("the final pod (imagePullSecrets %q) gets patch %s", refNames(finalPod), mustJSON(final.Patch))})
	}
	out = append(out, checkInjected(c, first, finalPod)...)

	if len(final.Images) != len(c.Images) {
		return append(out, finding{Kind: kindOracle, Sig: "image count", Detail: fmt.Sprintf("pullguard decided %d images of %d", len(final.Images), len(c.Images))})
	}
	for i, id := range final.Images {
		pull := kubeletLookup(finalPod, ns, nodeKeyring, id.Image)
		if pull.err != nil {
			count("kubelet fails every pull")
			if id.Outcome != decision.Rejected {
				out = append(out, finding{Kind: kindOutcome, Image: id.Image, Sig: "kubelet fails: " + string(id.Outcome), Detail: fmt.Sprintf("kubelet fails the pull (%v); pullguard says %s", pull.err, id.Outcome)})
			}
			if o := first.Images[i].Outcome; o != decision.Rejected {
				out = append(out, finding{Kind: kindFirst, Image: id.Image, Sig: "kubelet fails: " + string(o), Detail: fmt.Sprintf("kubelet fails the pull (%v); the first decision says %s", pull.err, o)})
			}
			continue
		}
		sources, err := kubeletSources(pull.creds)
		if err != nil {
			out = append(out, finding{Kind: kindOracle, Image: id.Image, Sig: "unknown credential", Detail: err.Error()})
			continue
		}
		shape := shapeOf(sources)
		count(fmt.Sprintf("kubelet tries %v", shape))
		if !slices.Equal(sources, id.Candidates) {
			out = append(out, finding{Kind: kindCandidates, Image: id.Image, Sig: fmt.Sprintf("kubelet %v, pullguard %v, %s", shape, positions(id.Candidates, sources), id.Outcome),
				Detail: fmt.Sprintf("kubelet tries %q; pullguard candidates %q (outcome %s)", sources, id.Candidates, id.Outcome)})
		}
		if want, secret := expectedOutcome(sources); id.Outcome != want || (secret != "" && id.Secret != secret) {
			out = append(out, finding{Kind: kindOutcome, Image: id.Image, Sig: fmt.Sprintf("kubelet %v: %s, pullguard %s %v", shape, want, id.Outcome, positions([]string{id.Secret}, sources)),
				Detail: fmt.Sprintf("kubelet tries %q, so %s %s; pullguard says %s %s", sources, want, secret, id.Outcome, id.Secret)})
		}
		if f, ok := checkFirst(c, first.Images[i], sources, shape); !ok {
			out = append(out, f)
		}
		if !slices.ContainsFunc(sources, isPodSecret) {
			out = append(out, checkNotInjected(c, finalPod, ns, nodeKeyring, id.Image, shape)...)
		}
	}
	return out
}

// expectedOutcome is what pullguard must say of an image given the kubelet's sources (no
// verification, no private registries): covered by the first pod secret, node when only
// node credentials match, anonymous when nothing does.
func expectedOutcome(sources []string) (decision.Outcome, string) {
	switch {
	case len(sources) == 0:
		return decision.Anonymous, ""
	case isPodSecret(sources[0]):
		return decision.Covered, sources[0]
	default:
		return decision.Node, ""
	}
}

func isPodSecret(source string) bool { return !strings.HasPrefix(source, nodePrefix) }

// shapeOf abstracts the kubelet's sources: "pod" or "node" for each.
func shapeOf(sources []string) []string {
	out := make([]string, len(sources))
	for i, s := range sources {
		out[i] = "pod"
		if !isPodSecret(s) {
			out[i] = "node"
		}
	}
	return out
}

// positions abstracts pullguard's list against the kubelet's: each name's position in the
// kubelet's list ("#0"), or "?" for a name the kubelet does not try.
func positions(names, sources []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		if j := slices.Index(sources, n); j >= 0 {
			out[i] = fmt.Sprintf("#%d", j)
		} else {
			out[i] = "?"
		}
	}
	return out
}

// checkFirst: the first decision's outcomes describe the final pod too (SPEC section 5:
// after injection every image is resolved again), except that an image whose first source
// is an injected secret is "injected", and its Candidates list the namespace's offers in
// name order (SPEC section 2), so they are not compared.
func checkFirst(c podCase, id decision.ImageDecision, sources, shape []string) (finding, bool) {
	want, secret := expectedOutcome(sources)
	if want == decision.Covered && !slices.Contains(c.Refs, secret) {
		want = decision.Injected
	}
	candidatesOK := want == decision.Injected || slices.Equal(id.Candidates, sources)
	if id.Outcome == want && (secret == "" || id.Secret == secret) && candidatesOK {
		return finding{}, true
	}
	return finding{Kind: kindFirst, Image: id.Image, Sig: fmt.Sprintf("kubelet %v: %s, pullguard %s %v candidates %v", shape, want, id.Outcome, positions([]string{id.Secret}, sources), positions(id.Candidates, sources)),
		Detail: fmt.Sprintf("on the final pod the kubelet tries %q, so %s %s; the first decision says %s %s, candidates %q", sources, want, secret, id.Outcome, id.Secret, id.Candidates)}, false
}

// checkInjected: the secrets the patch added are exactly those the first decision reports as
// injected, each once, and none of them makes the kubelet fail every pull.
func checkInjected(c podCase, first *decision.Decision, finalPod *corev1.Pod) []finding {
	var injected []string
	for _, id := range first.Images {
		if id.Outcome == decision.Injected && !slices.Contains(injected, id.Secret) {
			injected = append(injected, id.Secret)
		}
	}
	added := refNames(finalPod)[len(c.Refs):]
	var out []finding
	if !slices.Equal(slices.Sorted(slices.Values(added)), slices.Sorted(slices.Values(injected))) {
		out = append(out, finding{Kind: kindInjectedList, Sig: "patch and injected outcomes differ", Detail: fmt.Sprintf("the patch added %q; the first decision injected %q", added, injected)})
	}
	for _, name := range added {
		if s, ok := c.spec(name); ok && s.Kind.breaksPulls() && !brokenRef(c) {
			out = append(out, finding{Kind: kindBrokenInject, Sig: "injected " + s.Kind.String(), Detail: fmt.Sprintf("injected %q (%s): the kubelet now fails every pull of the pod", name, s.Kind)})
		}
	}
	return out
}

// brokenRef says whether the pod already lists a secret that breaks every pull.
func brokenRef(c podCase) bool {
	for _, name := range c.Refs {
		if s, ok := c.spec(name); ok && s.Kind.breaksPulls() {
			return true
		}
	}
	return false
}

// checkNotInjected: the kubelet tries no pod secret for the image, so any namespace secret
// that would give it a credential once on the pod should have been injected (SPEC section 5,
// steps 2 and 3). Which one is pullguard's choice; that none was is a finding.
func checkNotInjected(c podCase, finalPod *corev1.Pod, ns map[string]corev1.Secret, nodeKeyring credentialprovider.DockerKeyring, image string, shape []string) []finding {
	listed := refNames(finalPod)
	var would []string
	for _, s := range c.Secrets {
		if slices.Contains(listed, s.Name) || s.Kind.breaksPulls() {
			continue
		}
		withIt := finalPod.DeepCopy()
		withIt.Spec.ImagePullSecrets = append(withIt.Spec.ImagePullSecrets, corev1.LocalObjectReference{Name: s.Name})
		pull := kubeletLookup(withIt, ns, nodeKeyring, image)
		if pull.err != nil {
			continue
		}
		if sources, err := kubeletSources(pull.creds); err == nil && slices.Contains(sources, s.Name) {
			would = append(would, s.Name)
		}
	}
	if len(would) == 0 {
		return nil
	}
	return []finding{{Kind: kindNotInjected, Image: image, Sig: fmt.Sprintf("kubelet %v", shape), Detail: fmt.Sprintf("no pod secret is tried, yet namespace secrets %q would each give the kubelet a credential; none was injected", would)}}
}

func refNames(pod *corev1.Pod) []string {
	out := make([]string, len(pod.Spec.ImagePullSecrets))
	for i, r := range pod.Spec.ImagePullSecrets {
		out[i] = r.Name
	}
	return out
}
