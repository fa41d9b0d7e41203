package decision

import (
	"slices"
	"strings"
	"testing"

	"github.com/pullguard/pullguard/pkg/registryauth"
)

// Issue 10: never deny a pod the kubelet would run. The kubelet tries every credential that
// matches, in order (the pod's secrets, the nodes' config, credential provider plugins), and
// takes the first pull that works; these cases pin pullguard to that.

// kubeletCase decides a pod with verification, answering probes by credential source:
// `secret "x"` by "x", the nodes' credentials by "node", anonymous requests by "".
type kubeletCase struct {
	name      string
	obj       string
	secrets   []ns
	node      []string // keys of the nodes' config.json, its password "p-node"
	providers map[string][]string
	sas       string
	answers   answers // nil: verification off

	want      []string // per image "outcome:secret"
	wantPatch string
	wantMsg   []string
	noMsg     []string
	cands     [][]string // candidates per image, when set
	noProbes  bool       // no probe may be asked
}

func (tc kubeletCase) facts(t *testing.T) *Facts {
	f := &Facts{Namespace: "team-a", Secrets: index(tc.secrets), ServiceAccounts: serviceAccounts(t, tc.sas), ServiceAccountApplied: true, Verify: tc.answers != nil}
	if len(tc.node) > 0 {
		f.Node = registryauth.NewKeyring(ns{name: "node/config.json", keys: tc.node, password: "p-node"}.parse())
	}
	for name, patterns := range tc.providers {
		p, err := registryauth.NewCredentialProvider(name, patterns)
		if err != nil {
			t.Fatal(err)
		}
		f.Providers = append(f.Providers, p)
	}
	return f
}

// decideInRounds runs the decision the way pkg/admission/verify does: decide, answer the
// probes asked, decide again, until nothing more is asked.
func decideInRounds(t *testing.T, obj any, f *Facts, a answers) (*Decision, []string) {
	t.Helper()
	d, _ := Decide(obj, f)
	var asked []string
	if !f.Verify {
		return d, nil
	}
	f.Verdicts = Verdicts{}
	for round := 0; len(d.Probes) > 0; round++ {
		if round == 3 {
			t.Fatalf("still asking after 3 rounds: %+v", d.Probes)
		}
		for _, req := range d.Probes {
			source := ""
			switch {
			case strings.HasPrefix(req.Source, "the nodes' credentials"):
				source = "node"
			case req.Credential != nil:
				source = strings.TrimSuffix(strings.TrimPrefix(req.Source, `secret "`), `"`)
			}
			vd, ok := a[source]
			if !ok {
				t.Fatalf("unexpected probe with %s", req.Source)
			}
			asked = append(asked, source)
			f.Verdicts[req.Key] = vd
		}
		d, _ = Decide(obj, f)
	}
	return d, asked
}

func runKubeletCases(t *testing.T, cases []kubeletCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, asked := decideInRounds(t, object(t, tc.obj), tc.facts(t), tc.answers)
			msgs := messages(d)
			if got := summary(d); !slices.Equal(got, tc.want) {
				t.Errorf("outcomes = %q, want %q\n%s", got, tc.want, msgs)
			}
			if got := patchJSON(t, d.Patch); got != tc.wantPatch {
				t.Errorf("patch = %s\nwant    %s", got, tc.wantPatch)
			}
			for _, frag := range tc.wantMsg {
				if !strings.Contains(msgs, frag) {
					t.Errorf("messages lack %q:\n%s", frag, msgs)
				}
			}
			for _, frag := range tc.noMsg {
				if strings.Contains(msgs, frag) {
					t.Errorf("messages have %q:\n%s", frag, msgs)
				}
			}
			for i, want := range tc.cands {
				if got := d.Images[i].Candidates; !slices.Equal(got, want) {
					t.Errorf("image %d: candidates = %q, want %q", i, got, want)
				}
			}
			if tc.noProbes && len(asked) > 0 {
				t.Errorf("asked %q, want no probe", asked)
			}
			for _, pw := range []string{testPassword, "p-node", "p-stale", "p-good"} {
				if strings.Contains(msgs, pw) {
					t.Errorf("a message shows a credential:\n%s", msgs)
				}
			}
		})
	}
}

const quayPod = `
kind: Pod
metadata: {name: web, namespace: team-a}
spec:
  containers:
  - {name: app, image: quay.io/acme/app:1.0}
`

func TestNodeCredentialsAfterPodCredentials(t *testing.T) {
	stale := ns{name: "stale", keys: []string{"quay.io"}, password: "p-stale"}
	good := ns{name: "good", keys: []string{"quay.io"}, password: "p-good"}
	runKubeletCases(t, []kubeletCase{
		{
			name:    "a refused pod secret falls back to the nodes' credentials",
			obj:     quayPod + "  imagePullSecrets: [{name: stale}]\n",
			secrets: []ns{stale}, node: []string{"quay.io"},
			answers: answers{"stale": expired, "node": ok},
			want:    []string{"node:node:node/config.json"},
			cands:   [][]string{{"stale", "node:node/config.json"}},
			wantMsg: []string{`the nodes' own credentials cover quay.io; the kubelet first tries secret "stale" in vain`},
		},
		{
			name:    "every credential refused: denied, naming each",
			obj:     quayPod + "  imagePullSecrets: [{name: stale}]\n",
			secrets: []ns{stale}, node: []string{"quay.io"},
			answers: answers{"stale": expired, "node": denied},
			want:    []string{"rejected:stale"},
			wantMsg: []string{`registry refused the credentials in secret "stale" for quay.io`, `the credentials in the nodes' credentials (node/config.json) have no access`},
		},
		{
			name:    "candidates of a covered image: the pod's secrets, then the nodes' last",
			obj:     quayPod + "  imagePullSecrets: [{name: good}]\n",
			secrets: []ns{good}, node: []string{"quay.io", "quay.io/acme"},
			want:  []string{"covered:good"},
			cands: [][]string{{"good", "node:node/config.json"}},
		},
		{
			name:    "a namespace secret is injected and accepted; the node's stale credential does not deny",
			obj:     quayPod,
			secrets: []ns{good}, node: []string{"quay.io"},
			answers:   answers{"good": ok, "node": expired},
			want:      []string{"injected:good"},
			wantPatch: `[{"op":"add","path":"/spec/imagePullSecrets","value":[{"name":"good"}]}]`,
			cands:     [][]string{{"good", "node:node/config.json"}},
		},
		{
			name:    "a refused namespace secret is not injected when the nodes' credentials work",
			obj:     quayPod,
			secrets: []ns{stale}, node: []string{"quay.io"},
			answers: answers{"stale": expired, "node": ok},
			want:    []string{"node:node:node/config.json"},
		},
	})
}

func TestCredentialProviders(t *testing.T) {
	const ecrPod = `
kind: Pod
metadata: {name: web, namespace: team-a}
spec:
  containers:
  - {name: app, image: 123456789012.dkr.ecr.us-east-1.amazonaws.com/team/app:1}
`
	ecr := map[string][]string{"ecr-credential-provider": {"*.dkr.ecr.*.amazonaws.com"}}
	runKubeletCases(t, []kubeletCase{
		{
			name:      "an image a provider matches is the node's: never probed, never missing",
			obj:       ecrPod,
			providers: ecr,
			answers:   answers{},
			want:      []string{"node:node:credential-provider/ecr-credential-provider"},
			wantMsg:   []string{`the kubelet's credential provider "ecr-credential-provider" covers 123456789012.dkr.ecr.us-east-1.amazonaws.com`},
			noProbes:  true,
		},
		{
			name:      "a refused pod secret before the provider does not deny",
			obj:       ecrPod + "  imagePullSecrets: [{name: old}]\n",
			secrets:   []ns{{name: "old", keys: []string{"*.dkr.ecr.us-east-1.amazonaws.com"}, password: "p-stale"}},
			providers: ecr,
			answers:   answers{"old": expired},
			want:      []string{"node:node:credential-provider/ecr-credential-provider"},
			cands:     [][]string{{"old", "node:credential-provider/ecr-credential-provider"}},
			wantMsg:   []string{`it is asked after secret "old", which the registry refused`},
		},
		{
			name:      "images the provider does not match are decided as before",
			obj:       quayPod,
			providers: ecr,
			answers:   answers{"": expired},
			want:      []string{"missing"},
		},
	})
}

func TestPullPolicyNever(t *testing.T) {
	runKubeletCases(t, []kubeletCase{
		{
			name: "Never: local, never probed, never denied for credentials",
			obj: `
kind: Pod
metadata: {name: web, namespace: team-a}
spec:
  containers:
  - {name: app, image: quay.io/acme/app:1.0, imagePullPolicy: Never}
  volumes:
  - name: data
    image: {reference: quay.io/acme/data:1, pullPolicy: Never}
`,
			answers:  answers{},
			want:     []string{"local", "local"},
			wantMsg:  []string{"imagePullPolicy is Never, so the pod runs only if the image is already on the node", "KubeletEnsureSecretPulledImages"},
			noProbes: true,
		},
		{
			name: "IfNotPresent is still a pull: the kubelet verifies credentials for cached images",
			obj: `
kind: Pod
metadata: {name: web, namespace: team-a}
spec:
  containers:
  - {name: app, image: quay.io/acme/app:1.0, imagePullPolicy: IfNotPresent}
`,
			answers: answers{"": expired},
			want:    []string{"missing"},
		},
	})
}

// TestFinalPod: outcomes describe the pod as the kubelet receives it. A secret injected for
// one image can change what the kubelet tries for another: its docker.io key ends the
// index.docker.io fallback the pod's own secret gave every Docker Hub image.
func TestFinalPod(t *testing.T) {
	obj := `
kind: Pod
metadata: {name: web, namespace: team-a}
spec:
  imagePullSecrets: [{name: hub-fallback}]
  containers:
  - {name: app, image: quay.io/acme/app:1.0}
  - {name: proxy, image: nginx:1.27}
`
	secrets := []ns{
		{name: "hub-fallback", keys: []string{"https://index.docker.io/v1/"}},
		{name: "multi", keys: []string{"quay.io", "docker.io"}, password: "p-good"},
	}
	runKubeletCases(t, []kubeletCase{
		{
			name:      "without verification",
			obj:       obj,
			secrets:   secrets,
			want:      []string{"injected:multi", "injected:multi"},
			cands:     [][]string{{"multi"}, {"multi"}},
			wantPatch: `[{"op":"add","path":"/spec/imagePullSecrets/-","value":{"name":"multi"}}]`,
		},
		{
			name:      "the credentials of the final pod are the ones verified",
			obj:       obj,
			secrets:   secrets,
			answers:   answers{"multi": ok},
			want:      []string{"injected:multi", "injected:multi"},
			wantPatch: `[{"op":"add","path":"/spec/imagePullSecrets/-","value":{"name":"multi"}}]`,
		},
	})
}

// TestKubeletReadsLikeTheKubelet pins small divergences found by reading the kubelet and the
// ServiceAccount admission plugin.
func TestKubeletReadsLikeTheKubelet(t *testing.T) {
	runKubeletCases(t, []kubeletCase{
		{
			name:    "enforce-mountable-secrets is a strconv.ParseBool: True counts",
			obj:     quayPod,
			secrets: []ns{{name: "quay", keys: []string{"quay.io"}}},
			sas:     "metadata: {name: default, annotations: {kubernetes.io/enforce-mountable-secrets: \"True\"}}\n",
			want:    []string{"missing"},
			wantMsg: []string{`service account "default" enforces mountable secrets`},
		},
		{
			name:      "enforce-mountable-secrets: an unparsable value does not enforce",
			obj:       quayPod,
			secrets:   []ns{{name: "quay", keys: []string{"quay.io"}}},
			sas:       "metadata: {name: default, annotations: {kubernetes.io/enforce-mountable-secrets: \"yes\"}}\n",
			want:      []string{"injected:quay"},
			wantPatch: `[{"op":"add","path":"/spec/imagePullSecrets","value":[{"name":"quay"}]}]`,
		},
		{
			name: "a .dockercfg with an auths key keeps its other keys",
			obj:  quayPod + "  imagePullSecrets: [{name: mixed}]\n",
			secrets: []ns{{name: "mixed", typ: registryauth.TypeDockercfg,
				raw: `{"auths":{"ghcr.io":{"auth":"dTpw"}},"quay.io":{"auth":"dTpw"}}`}},
			want: []string{"covered:mixed"},
		},
		{
			name:    "a .dockercfg whose only credentials are under auths: missing, and the message says why",
			obj:     quayPod,
			secrets: []ns{{name: "wrapped", typ: registryauth.TypeDockercfg, raw: `{"auths":{"quay.io":{"auth":"dTpw"}}}`}},
			answers: answers{"": expired},
			want:    []string{"missing"},
			wantMsg: []string{`pull secret "wrapped": "auths" wrapper in a .dockercfg, which has none: the kubelet ignores the credentials under it`},
		},
		{
			name: "five .dockercfg secrets with auths wrappers for the registry: three named, the rest counted",
			obj:  quayPod,
			secrets: []ns{
				{name: "w1", typ: registryauth.TypeDockercfg, raw: `{"auths":{"quay.io":{"auth":"dTpw"}}}`},
				{name: "w2", typ: registryauth.TypeDockercfg, raw: `{"auths":{"quay.io/acme":{"auth":"dTpw"}}}`},
				{name: "w3", typ: registryauth.TypeDockercfg, raw: `{"auths":{"quay.io":{"auth":"dTpw"}}}`},
				{name: "w4", typ: registryauth.TypeDockercfg, raw: `{"auths":{"quay.io":{"auth":"dTpw"}}}`},
				{name: "w5", typ: registryauth.TypeDockercfg, raw: `{"auths":{"quay.io":{"auth":"dTpw"}}}`},
			},
			answers: answers{"": expired},
			want:    []string{"missing"},
			wantMsg: []string{`pull secret "w1": "auths" wrapper`, `pull secret "w2": "auths" wrapper`, "; and 3 more)"},
			noMsg:   []string{`"w3"`, `"w4"`, `"w5"`},
		},
		{
			name:    "a .dockercfg wrapping credentials for another registry is not named",
			obj:     quayPod,
			secrets: []ns{{name: "wrapped", typ: registryauth.TypeDockercfg, raw: `{"auths":{"ghcr.io":{"auth":"dTpw"}}}`}},
			answers: answers{"": expired},
			want:    []string{"missing"},
			noMsg:   []string{`"wrapped"`, `"auths" wrapper`},
		},
		{
			name: "localhost/x gets the index.docker.io fallback like any Docker Hub image",
			obj: `
kind: Pod
metadata: {name: web, namespace: team-a}
spec:
  imagePullSecrets: [{name: hub}]
  containers:
  - {name: app, image: localhost/app:1}
`,
			secrets: []ns{{name: "hub", keys: []string{"https://index.docker.io/v1/"}}},
			want:    []string{"covered:hub"},
		},
	})
}

// TestSkippedProbes: a registry in --verify-deny-networks is never contacted; its images
// are decided by matching alone, as with verification off.
func TestSkippedProbes(t *testing.T) {
	skipped := registryauth.Verdict{Status: registryauth.ProbeSkipped, Reason: "the registry's address is in --verify-deny-networks"}
	runKubeletCases(t, []kubeletCase{
		{
			name:      "a skipped probe of a candidate: injected unverified, like --verify=false",
			obj:       quayPod,
			secrets:   []ns{{name: "quay", keys: []string{"quay.io"}}},
			answers:   answers{"quay": skipped},
			want:      []string{"injected:quay"},
			wantPatch: `[{"op":"add","path":"/spec/imagePullSecrets","value":[{"name":"quay"}]}]`,
		},
		{
			name:    "a skipped anonymous probe: anonymous, not indeterminate",
			obj:     quayPod,
			answers: answers{"": skipped},
			want:    []string{"anonymous"},
		},
	})
}
