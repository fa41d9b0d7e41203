package decision

import (
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/pullguard/pullguard/pkg/registryauth"
)

var (
	ok          = registryauth.Verdict{Status: registryauth.ProbeOK, HTTPStatus: 200}
	expired     = registryauth.Verdict{Status: registryauth.ProbeUnauthorized, HTTPStatus: 401, Code: "UNAUTHORIZED"}
	denied      = registryauth.Verdict{Status: registryauth.ProbeForbidden, HTTPStatus: 403, Code: "DENIED"}
	noTag       = registryauth.Verdict{Status: registryauth.ProbeNotFound, HTTPStatus: 404, Code: "MANIFEST_UNKNOWN"}
	unreachable = registryauth.Verdict{Status: registryauth.ProbeUnavailable, Reason: "dial tcp 127.0.0.1:1: connection refused"}
)

// answers maps "secret" (or "" for anonymous) to a verdict for every image of a case.
type answers map[string]registryauth.Verdict

type verifyCase struct {
	name      string
	pod       *corev1.Pod
	secrets   []ns
	private   string
	answers   answers
	omit      []string // secrets whose probes got no answer in time
	want      []string // "outcome:secret"
	wantPatch string
	wantMsg   []string
	probes    int // probes planned
}

func verifyPod(secrets []string, images ...string) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "team-a"}}
	for _, s := range secrets {
		p.Spec.ImagePullSecrets = append(p.Spec.ImagePullSecrets, corev1.LocalObjectReference{Name: s})
	}
	for i, img := range images {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "c" + string(rune('0'+i)), Image: img})
	}
	return p
}

func TestVerification(t *testing.T) {
	cases := []verifyCase{
		{
			name:    "covered: the registry accepts the pod's secret",
			pod:     verifyPod([]string{"mine"}, "quay.io/acme/app:1"),
			secrets: []ns{{name: "mine", keys: []string{"quay.io"}, password: "p-mine"}},
			answers: answers{"mine": ok}, want: []string{"covered:mine"}, probes: 1,
		},
		{
			name:    "covered: the first credential is refused, the kubelet falls through to the next",
			pod:     verifyPod([]string{"old", "new"}, "quay.io/acme/app:1"),
			secrets: []ns{{name: "old", keys: []string{"quay.io"}, password: "p-old"}, {name: "new", keys: []string{"quay.io"}, password: "p-new"}},
			answers: answers{"old": expired, "new": ok}, want: []string{"covered:new"}, probes: 2,
		},
		{
			name:    "stale credential on the pod: rejected by name",
			pod:     verifyPod([]string{"mine"}, "quay.io/acme/app:1"),
			secrets: []ns{{name: "mine", keys: []string{"quay.io"}, password: "p-mine"}},
			answers: answers{"mine": expired}, want: []string{"rejected:mine"},
			wantMsg: []string{`container "c0" image "quay.io/acme/app:1": registry refused the credentials in secret "mine" for quay.io: HTTP 401 UNAUTHORIZED; the token may have expired`},
		},
		{
			name:    "no access to the repository",
			pod:     verifyPod([]string{"mine"}, "quay.io/acme/app:1"),
			secrets: []ns{{name: "mine", keys: []string{"quay.io"}, password: "p-mine"}},
			answers: answers{"mine": denied}, want: []string{"rejected:mine"},
			wantMsg: []string{`the credentials in secret "mine" have no access to repository quay.io/acme/app: HTTP 403 DENIED`},
		},
		{
			name:    "missing tag with a good credential",
			pod:     verifyPod([]string{"mine"}, "quay.io/acme/app:1.0-typo"),
			secrets: []ns{{name: "mine", keys: []string{"quay.io"}, password: "p-mine"}},
			answers: answers{"mine": noTag}, want: []string{"rejected:mine"},
			wantMsg: []string{`tag "1.0-typo" does not exist in quay.io/acme/app (HTTP 404 MANIFEST_UNKNOWN); check the image reference`},
		},
		{
			name:      "injection: the first candidate the registry accepts",
			pod:       verifyPod(nil, "quay.io/acme/app:1"),
			secrets:   []ns{{name: "a-expired", keys: []string{"quay.io/acme"}, password: "p-a"}, {name: "b-good", keys: []string{"quay.io"}, password: "p-b"}},
			answers:   answers{"a-expired": expired, "b-good": ok},
			want:      []string{"injected:b-good"},
			wantPatch: `[{"op":"add","path":"/spec/imagePullSecrets","value":[{"name":"b-good"}]}]`,
			probes:    2,
		},
		{
			name:    "injection: every candidate refused",
			pod:     verifyPod(nil, "quay.io/acme/app:1"),
			secrets: []ns{{name: "a", keys: []string{"quay.io"}, password: "p-a"}, {name: "b", keys: []string{"quay.io"}, password: "p-b"}},
			answers: answers{"a": expired, "b": denied},
			want:    []string{"rejected"},
			wantMsg: []string{`secret "a" for quay.io: HTTP 401`, `secret "b" have no access`},
		},
		{
			name:      "injection: registry unreachable, the first candidate attached unverified",
			pod:       verifyPod(nil, "quay.io/acme/app:1"),
			secrets:   []ns{{name: "a", keys: []string{"quay.io"}, password: "p-a"}},
			answers:   answers{"a": unreachable},
			want:      []string{"indeterminate:a"},
			wantPatch: `[{"op":"add","path":"/spec/imagePullSecrets","value":[{"name":"a"}]}]`,
			wantMsg:   []string{`could not verify with quay.io: the credentials in secret "a" could not be checked: dial tcp 127.0.0.1:1: connection refused; pull secret "a" would be attached unverified`},
		},
		{
			name:    "a probe with no answer in time is indeterminate",
			pod:     verifyPod([]string{"mine"}, "quay.io/acme/app:1"),
			secrets: []ns{{name: "mine", keys: []string{"quay.io"}, password: "p-mine"}},
			omit:    []string{"mine"}, want: []string{"indeterminate:mine"},
			wantMsg: []string{"no answer in time"},
		},
		{
			name: "anonymous registry", pod: verifyPod(nil, "nginx:1.27"),
			answers: answers{"": ok}, want: []string{"anonymous"}, probes: 1,
			wantMsg: []string{"serves the image anonymously"},
		},
		{
			name: "anonymous refused: missing", pod: verifyPod(nil, "ghcr.io/acme/private:1"),
			answers: answers{"": expired}, want: []string{"missing"},
			wantMsg: []string{`no pull secret in namespace "team-a" has credentials for ghcr.io (ghcr.io answered HTTP 401 UNAUTHORIZED to an anonymous request)`},
		},
		{
			name: "anonymous: the tag does not exist", pod: verifyPod(nil, "nginx:1.999"),
			answers: answers{"": noTag}, want: []string{"rejected"},
			wantMsg: []string{`tag "1.999" does not exist in docker.io/library/nginx`},
		},
		{
			name: "anonymous: unreachable", pod: verifyPod(nil, "reg.example.com/app:1"),
			answers: answers{"": unreachable}, want: []string{"indeterminate"},
		},
		{
			name: "anonymous: unreachable but listed private", pod: verifyPod(nil, "reg.example.com/app:1"),
			private: "reg.example.com", answers: answers{"": unreachable}, want: []string{"missing"},
			wantMsg: []string{"reg.example.com could not be reached (dial tcp 127.0.0.1:1: connection refused) and --private-registries lists it"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			private, _ := registryauth.ParsePatterns(tc.private)
			f := &Facts{Namespace: "team-a", Secrets: index(tc.secrets), PrivateRegistries: private, ServiceAccountApplied: true, Verify: true}
			plan := Pod(tc.pod, f)
			if tc.probes > 0 && len(plan.Probes) != tc.probes {
				t.Errorf("planned %d probes, want %d", len(plan.Probes), tc.probes)
			}
			f.Verdicts = Verdicts{}
			for _, req := range plan.Probes {
				source := ""
				if req.Credential != nil {
					source = strings.TrimSuffix(strings.TrimPrefix(req.Source, `secret "`), `"`)
				}
				if slices.Contains(tc.omit, source) {
					continue
				}
				vd, ok := tc.answers[source]
				if !ok {
					t.Fatalf("unexpected probe from %q", req.Source)
				}
				f.Verdicts[req.Key] = vd
			}
			d := Pod(tc.pod, f)
			// A probe with no answer is asked again in the next round; nothing else is.
			if len(d.Probes) != len(tc.omit) {
				t.Errorf("the decision with verdicts asks %d more probes, want %d (those unanswered)", len(d.Probes), len(tc.omit))
			}
			msgs := messages(d)
			if got := summary(d); !slices.Equal(got, tc.want) {
				t.Errorf("outcomes = %q, want %q\n%s", got, tc.want, msgs)
			}
			if got := patchJSON(t, d.Patch); got != tc.wantPatch {
				t.Errorf("patch = %s, want %s", got, tc.wantPatch)
			}
			for _, frag := range tc.wantMsg {
				if !strings.Contains(msgs, frag) {
					t.Errorf("messages lack %q:\n%s", frag, msgs)
				}
			}
			if strings.Contains(msgs, "p-mine") || strings.Contains(msgs, testPassword) {
				t.Error("a message shows a credential")
			}
		})
	}
}

func TestVerificationOfBuilds(t *testing.T) {
	bc := object(t, `
kind: BuildConfig
metadata: {name: api}
spec:
  strategy:
    sourceStrategy:
      from: {kind: DockerImage, name: "quay.io/acme/builder:1"}
  output:
    to: {kind: DockerImage, name: "quay.io/acme/api:1"}
`)
	f := &Facts{Namespace: "team-a", Secrets: index([]ns{{name: "quay", keys: []string{"quay.io"}, password: "p-q"}}), Verify: true}
	d, _ := Decide(bc, f)
	// The push target is never probed: a manifest request cannot tell whether one may push.
	if len(d.Probes) != 1 || d.Probes[0].Image.Name != "quay.io/acme/builder" {
		t.Fatalf("probes = %+v", d.Probes)
	}
	f.Verdicts = Verdicts{d.Probes[0].Key: noTag}
	d, _ = Decide(bc, f)
	if got := summary(d); !slices.Equal(got, []string{"rejected", "injected:quay"}) {
		t.Fatalf("outcomes = %q\n%s", got, messages(d))
	}
}
