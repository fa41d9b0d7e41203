package decision_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/pullguard/pullguard/pkg/admission/decision"
	"github.com/pullguard/pullguard/pkg/admission/openshift"
	"github.com/pullguard/pullguard/pkg/registryauth"
)

// The one credential of this test: every secret below carries it, in every way a docker
// config can (auth field, username and password fields, userinfo in a key, a broken auth
// field), so any message that quotes a secret's content quotes it.
const (
	secrecyUser     = "secrecy-test-user"
	secrecyPassword = "not-a-real-password-secrecy"
)

var secrecyAuth = base64.StdEncoding.EncodeToString([]byte(secrecyUser + ":" + secrecyPassword))

// TestNoCredentialInAnyMessage decides objects that reach every outcome, with and without
// verification and with every registry answer, and fails if a message, a note, a denial, a
// patch or the printed decision shows the username, the password or their auth string.
func TestNoCredentialInAnyMessage(t *testing.T) {
	podWith := func(secrets []string, sa string, images ...string) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "team-a"}}
		p.Spec.ServiceAccountName = sa
		for _, s := range secrets {
			p.Spec.ImagePullSecrets = append(p.Spec.ImagePullSecrets, corev1.LocalObjectReference{Name: s})
		}
		for i, img := range images {
			c := corev1.Container{Name: fmt.Sprintf("c%d", i), Image: img}
			if ref, ok := strings.CutPrefix(img, "never:"); ok {
				c.Image, c.ImagePullPolicy = ref, corev1.PullNever
			}
			p.Spec.Containers = append(p.Spec.Containers, c)
		}
		return p
	}
	// Images that reach every outcome, given the facts below.
	everyOutcome := []string{
		"quay.io/acme/app:1",              // covered (on the pod) or injected (quay-all)
		"nodes.example.com/base:1",        // node
		"docker.io/library/nginx:1.27",    // anonymous
		"registry.redhat.io/ubi9/ubi:9.4", // missing, with near misses (redhat-port, redhat-case)
		"reg.example.com/other/app:1",     // missing, with a near miss through a path
		"ghcr.io/acme/tool:1",             // a dockercfg secret
		"mountable.example.com/app:1",     // injection refused by enforce-mountable-secrets
		"Not/A:Valid:Reference",           // rejected: invalid reference
		"never:quay.io/acme/app:1",        // local: imagePullPolicy Never
	}
	buildWith := func(sa, pullSecret, pushSecret string) *openshift.BuildConfig {
		b := &openshift.BuildConfig{ObjectMeta: metav1.ObjectMeta{Name: "b", Namespace: "team-a"}}
		b.Spec.ServiceAccount = sa
		b.Spec.Strategy.DockerStrategy = &openshift.DockerBuildStrategy{From: &corev1.ObjectReference{Kind: "DockerImage", Name: "quay.io/acme/base:1"}}
		b.Spec.Source.Images = []openshift.ImageSource{{From: corev1.ObjectReference{Kind: "DockerImage", Name: "registry.redhat.io/ubi9/ubi:9.4"}}}
		b.Spec.Output.To = &corev1.ObjectReference{Kind: "DockerImage", Name: "reg.example.com/other/app:1"}
		if pullSecret != "" {
			b.Spec.Strategy.DockerStrategy.PullSecret = &corev1.LocalObjectReference{Name: pullSecret}
		}
		if pushSecret != "" {
			b.Spec.Output.PushSecret = &corev1.LocalObjectReference{Name: pushSecret}
		}
		return b
	}
	deployment := &corev1.PodTemplateSpec{Spec: podWith(nil, "", everyOutcome...).Spec}

	objects := []struct {
		name   string
		decide func(*decision.Facts) *decision.Decision
	}{
		{"pod without secrets", func(f *decision.Facts) *decision.Decision {
			return decision.Pod(podWith(nil, "", everyOutcome...), f)
		}},
		{"pod with its own secrets", func(f *decision.Facts) *decision.Decision {
			return decision.Pod(podWith([]string{"quay-all", "ghcr-cfg", "absent"}, "", everyOutcome...), f)
		}},
		{"pod with a malformed secret", func(f *decision.Facts) *decision.Decision {
			return decision.Pod(podWith([]string{"broken-auth"}, "", everyOutcome...), f)
		}},
		{"pod of a service account enforcing mountable secrets", func(f *decision.Facts) *decision.Decision {
			return decision.Pod(podWith(nil, "strict", everyOutcome...), f)
		}},
		{"buildconfig", func(f *decision.Facts) *decision.Decision {
			return decision.BuildConfig(buildWith("", "", ""), f)
		}},
		{"buildconfig with its secret fields set", func(f *decision.Facts) *decision.Decision {
			return decision.BuildConfig(buildWith("", "quay-all", "acme-only"), f)
		}},
		{"buildconfig of a service account with secrets", func(f *decision.Facts) *decision.Decision {
			return decision.BuildConfig(buildWith("builder", "", ""), f)
		}},
		{"deployment template", func(f *decision.Facts) *decision.Decision {
			return decision.Template("Deployment", "team-a", "d", deployment, f)
		}},
	}
	answers := []struct {
		name    string
		verdict *registryauth.Verdict // nil: no verification
	}{
		{"no verification", nil},
		{"accepted", &registryauth.Verdict{Status: registryauth.ProbeOK, HTTPStatus: 200}},
		{"401", &registryauth.Verdict{Status: registryauth.ProbeUnauthorized, HTTPStatus: 401, Code: "UNAUTHORIZED"}},
		{"403", &registryauth.Verdict{Status: registryauth.ProbeForbidden, HTTPStatus: 403, Code: "DENIED"}},
		{"404", &registryauth.Verdict{Status: registryauth.ProbeNotFound, HTTPStatus: 404, Code: "MANIFEST_UNKNOWN"}},
		{"unavailable", &registryauth.Verdict{Status: registryauth.ProbeUnavailable, Reason: "connection refused"}},
	}
	seen := map[decision.Outcome]bool{}
	for _, obj := range objects {
		for _, answer := range answers {
			for _, applied := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s/%s/sa-applied=%v", obj.name, answer.name, applied), func(t *testing.T) {
					f := secrecyFacts(t)
					f.ServiceAccountApplied = applied
					d := obj.decide(f)
					if answer.verdict != nil {
						f.Verify = true
						d = obj.decide(f)
						assertNoCredential(t, "the planning pass", d)
						f.Verdicts = decision.Verdicts{}
						for _, p := range d.Probes {
							f.Verdicts[p.Key] = *answer.verdict
						}
						d = obj.decide(f)
					}
					for _, img := range d.Images {
						seen[img.Outcome] = true
					}
					assertNoCredential(t, "the decision", d)
				})
			}
		}
	}
	// The test proves something only if the messages it read cover every outcome.
	for _, o := range decision.Outcomes {
		if !seen[o] {
			t.Errorf("no decision reached outcome %q: the test misses its messages", o)
		}
	}
}

// secrecyFacts is a namespace whose every secret carries the test credential.
func secrecyFacts(t *testing.T) *decision.Facts {
	t.Helper()
	entry := fmt.Sprintf(`{"auth":%q}`, secrecyAuth)
	fields := fmt.Sprintf(`{"username":%q,"password":%q}`, secrecyUser, secrecyPassword)
	configJSON := func(auths string) map[string][]byte {
		return map[string][]byte{registryauth.KeyDockerConfigJSON: []byte(`{"auths":{` + auths + `}}`)}
	}
	secrets := []*registryauth.PullSecret{
		registryauth.ParseSecret("quay-all", registryauth.TypeDockerConfigJSON, configJSON(`"quay.io":`+entry)),
		registryauth.ParseSecret("redhat-port", registryauth.TypeDockerConfigJSON, configJSON(`"registry.redhat.io:443":`+fields)),
		registryauth.ParseSecret("redhat-case", registryauth.TypeDockerConfigJSON, configJSON(`"Registry.Redhat.io":`+entry)),
		registryauth.ParseSecret("acme-only", registryauth.TypeDockerConfigJSON, configJSON(`"https://reg.example.com/acme":`+fields)),
		// SPEC section 8: keys are shown without userinfo.
		registryauth.ParseSecret("userinfo-key", registryauth.TypeDockerConfigJSON,
			configJSON(fmt.Sprintf(`"https://%s:%s@Reg.Example.com":%s`, secrecyUser, secrecyPassword, entry))),
		registryauth.ParseSecret("ghcr-cfg", registryauth.TypeDockercfg,
			map[string][]byte{registryauth.KeyDockercfg: []byte(`{"ghcr.io":` + fields + `}`)}),
		registryauth.ParseSecret("mountable", registryauth.TypeDockerConfigJSON, configJSON(`"mountable.example.com":`+entry)),
		// The kubelet cannot decode it: its error names the secret, never the field's value.
		registryauth.ParseSecret("broken-auth", registryauth.TypeDockerConfigJSON,
			configJSON(fmt.Sprintf(`"quay.io":{"auth":%q}`, secrecyUser+":"+secrecyPassword))),
		registryauth.ParseSecret("broken-json", registryauth.TypeDockerConfigJSON,
			map[string][]byte{registryauth.KeyDockerConfigJSON: []byte(`{"auths":{"registry.redhat.io":{"auth":"` + secrecyAuth + `"`)}),
	}
	for _, s := range secrets[:7] {
		if s.Err != nil {
			t.Fatalf("secret %s: %v", s.Name, s.Err)
		}
	}
	node := registryauth.ParseConfigFile("/var/lib/kubelet/config.json", []byte(`{"auths":{"nodes.example.com":`+entry+`}}`))
	if node.Err != nil {
		t.Fatal(node.Err)
	}
	private, err := registryauth.ParsePatterns("registry.redhat.io,reg.example.com")
	if err != nil {
		t.Fatal(err)
	}
	return &decision.Facts{
		Namespace: "team-a",
		Secrets:   registryauth.NewSecretIndex(secrets),
		ServiceAccounts: decision.ServiceAccountMap{
			"default": {ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: "team-a"}},
			"builder": {
				ObjectMeta:       metav1.ObjectMeta{Name: "builder", Namespace: "team-a"},
				ImagePullSecrets: []corev1.LocalObjectReference{{Name: "quay-all"}, {Name: "redhat-case"}},
			},
			"strict": {
				ObjectMeta:       metav1.ObjectMeta{Name: "strict", Namespace: "team-a", Annotations: map[string]string{decision.EnforceMountableAnnotation: "true"}},
				ImagePullSecrets: []corev1.LocalObjectReference{{Name: "quay-all"}},
			},
		},
		Node:              registryauth.NewKeyring(node),
		PrivateRegistries: private,
	}
}

// assertNoCredential fails if anything a decision carries to a user or a log shows the test
// credential: messages, notes, the denial, the patch, and the decision printed whole.
func assertNoCredential(t *testing.T, what string, d *decision.Decision) {
	t.Helper()
	patch, err := json.Marshal(d.Patch)
	if err != nil {
		t.Fatal(err)
	}
	whole, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	texts := []string{d.Denial(), string(patch), string(whole), fmt.Sprintf("%+v", d), fmt.Sprintf("%#v", d)}
	texts = append(texts, d.Notes...)
	for _, img := range d.Images {
		texts = append(texts, img.Message, img.Secret, strings.Join(img.Candidates, ","))
	}
	for _, p := range d.Probes {
		texts = append(texts, p.Source, fmt.Sprintf("%+v", p))
	}
	for _, text := range texts {
		for _, secret := range []string{secrecyUser, secrecyPassword, secrecyAuth} {
			if strings.Contains(text, secret) {
				t.Fatalf("%s shows %q:\n%s", what, secret, text)
			}
		}
	}
}
