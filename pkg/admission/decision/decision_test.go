package decision

import (
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/pullguard/pullguard/pkg/registryauth"
)

const privatePod = `
kind: Pod
metadata: {name: web, namespace: team-a}
spec:
  containers:
  - {name: app, image: quay.io/acme/app:1.0}
`

type decideCase struct {
	name    string
	obj     string
	secrets []ns   // the namespace's pull secrets
	sas     string // the namespace's service accounts, multi-document YAML
	node    []string
	private string
	// applied: the object already passed the ServiceAccount admission plugin (a webhook).
	applied bool

	want      []string // per image "outcome:secret"
	wantPatch string   // JSON, "" for none
	wantMsg   []string // fragments every one of which must appear in the messages
	notMsg    []string // fragments that must not appear
	cands     []string // candidates of the first image, when set
}

func runCases(t *testing.T, cases []decideCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			private, err := registryauth.ParsePatterns(tc.private)
			if err != nil {
				t.Fatal(err)
			}
			f := &Facts{
				Namespace:             "team-a",
				Secrets:               index(tc.secrets),
				ServiceAccounts:       serviceAccounts(t, tc.sas),
				PrivateRegistries:     private,
				ServiceAccountApplied: tc.applied,
			}
			if len(tc.node) > 0 {
				f.Node = registryauth.NewKeyring(ns{name: "node/config.json", keys: tc.node}.parse())
			}
			d, ok := Decide(object(t, tc.obj), f)
			if !ok {
				t.Fatal("Decide refused the object")
			}
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
			for _, frag := range append(tc.notMsg, testPassword) {
				if strings.Contains(msgs, frag) {
					t.Errorf("messages contain %q:\n%s", frag, msgs)
				}
			}
			if tc.cands != nil && !slices.Equal(d.Images[0].Candidates, tc.cands) {
				t.Errorf("candidates = %q, want %q", d.Images[0].Candidates, tc.cands)
			}
		})
	}
}

func TestPods(t *testing.T) {
	runCases(t, []decideCase{
		{
			name:    "own secret covers",
			obj:     privatePod + "  imagePullSecrets: [{name: mine}]\n",
			secrets: []ns{{name: "mine", keys: []string{"quay.io"}}},
			want:    []string{"covered:mine"},
			wantMsg: []string{`container "app" image "quay.io/acme/app:1.0": pull secret "mine" on the pod has credentials for quay.io`},
		},
		{
			name:      "namespace secret injected into a pod with none",
			obj:       privatePod,
			secrets:   []ns{{name: "quay-creds", keys: []string{"quay.io"}}, {name: "other", keys: []string{"ghcr.io"}}},
			want:      []string{"injected:quay-creds"},
			wantPatch: `[{"op":"add","path":"/spec/imagePullSecrets","value":[{"name":"quay-creds"}]}]`,
			wantMsg:   []string{`pull secret "quay-creds" of namespace "team-a" has credentials for quay.io; pullguard adds it to the pod`},
		},
		{
			name:      "kubelet order picks the more specific key",
			obj:       privatePod,
			secrets:   []ns{{name: "a-broad", keys: []string{"quay.io"}}, {name: "z-acme", keys: []string{"quay.io/acme"}}},
			want:      []string{"injected:z-acme"},
			cands:     []string{"z-acme", "a-broad"},
			wantPatch: `[{"op":"add","path":"/spec/imagePullSecrets","value":[{"name":"z-acme"}]}]`,
		},
		{
			name:      "same key: name order",
			obj:       privatePod,
			secrets:   []ns{{name: "b", keys: []string{"quay.io"}}, {name: "a", keys: []string{"https://quay.io"}}},
			want:      []string{"injected:a"},
			cands:     []string{"a", "b"},
			wantPatch: `[{"op":"add","path":"/spec/imagePullSecrets","value":[{"name":"a"}]}]`,
		},
		{
			name:      "a pod's own secret kept, the second registry's appended",
			obj:       privatePod + "  - {name: side, image: ghcr.io/acme/side:2}\n  imagePullSecrets: [{name: mine}]\n",
			secrets:   []ns{{name: "mine", keys: []string{"quay.io"}}, {name: "ghcr", keys: []string{"ghcr.io"}}},
			want:      []string{"covered:mine", "injected:ghcr"},
			wantPatch: `[{"op":"add","path":"/spec/imagePullSecrets/-","value":{"name":"ghcr"}}]`,
		},
		{
			name:    "service account rule: a pod with no secrets gets the account's",
			obj:     privatePod,
			secrets: []ns{{name: "sa-quay", keys: []string{"quay.io"}}},
			sas:     "metadata: {name: default}\nimagePullSecrets: [{name: sa-quay}]\n",
			want:    []string{"covered:sa-quay"},
		},
		{
			name:      "service account rule: injecting writes the account's secrets out too",
			obj:       privatePod + "  - {name: side, image: ghcr.io/acme/side:2}\n",
			secrets:   []ns{{name: "sa-quay", keys: []string{"quay.io"}}, {name: "ghcr", keys: []string{"ghcr.io"}}},
			sas:       "metadata: {name: default}\nimagePullSecrets: [{name: sa-quay}]\n",
			want:      []string{"covered:sa-quay", "injected:ghcr"},
			wantPatch: `[{"op":"add","path":"/spec/imagePullSecrets","value":[{"name":"sa-quay"},{"name":"ghcr"}]}]`,
		},
		{
			name:      "service account rule: a pod listing any secret loses the account's",
			obj:       privatePod + "  imagePullSecrets: [{name: unrelated}]\n",
			secrets:   []ns{{name: "unrelated", keys: []string{"ghcr.io"}}, {name: "sa-quay", keys: []string{"quay.io"}}},
			sas:       "metadata: {name: default}\nimagePullSecrets: [{name: sa-quay}]\n",
			want:      []string{"injected:sa-quay"},
			wantPatch: `[{"op":"add","path":"/spec/imagePullSecrets/-","value":{"name":"sa-quay"}}]`,
		},
		{
			name:    "service account rule: a named service account",
			obj:     strings.Replace(privatePod, "spec:\n", "spec:\n  serviceAccountName: deployer\n", 1),
			secrets: []ns{{name: "dep-quay", keys: []string{"quay.io"}}},
			sas:     "metadata: {name: default}\n---\nmetadata: {name: deployer}\nimagePullSecrets: [{name: dep-quay}]\n",
			want:    []string{"covered:dep-quay"},
		},
		{
			name: "in a webhook the plugin already ran: the pod's list is final",
			obj:  privatePod + "  imagePullSecrets: [{name: sa-quay}]\n",
			// The account lists another secret too; the plugin copied only what it had.
			secrets: []ns{{name: "sa-quay", keys: []string{"quay.io"}}},
			sas:     "metadata: {name: default}\nimagePullSecrets: [{name: sa-quay}, {name: sa-ghcr}]\n",
			applied: true,
			want:    []string{"covered:sa-quay"},
		},
		{
			name:      "in a webhook a pod with no secrets is not given the account's again",
			obj:       privatePod,
			secrets:   []ns{{name: "sa-quay", keys: []string{"quay.io"}}},
			sas:       "metadata: {name: default}\nimagePullSecrets: [{name: sa-quay}]\n",
			applied:   true,
			want:      []string{"injected:sa-quay"},
			wantPatch: `[{"op":"add","path":"/spec/imagePullSecrets","value":[{"name":"sa-quay"}]}]`,
		},
		{
			name: "openshift: a pod listing its own secret loses the internal registry's dockercfg",
			obj: `
kind: Pod
metadata: {name: web}
spec:
  imagePullSecrets: [{name: quay}]
  containers:
  - {name: app, image: image-registry.openshift-image-registry.svc:5000/team-a/app:latest}
`,
			secrets:   []ns{{name: "quay", keys: []string{"quay.io"}}, {name: "default-dockercfg-x7k2p", typ: registryauth.TypeDockercfg, keys: []string{"image-registry.openshift-image-registry.svc:5000", "172.30.0.10:5000"}}},
			sas:       "metadata: {name: default}\nimagePullSecrets: [{name: default-dockercfg-x7k2p}]\n",
			want:      []string{"injected:default-dockercfg-x7k2p"},
			wantPatch: `[{"op":"add","path":"/spec/imagePullSecrets/-","value":{"name":"default-dockercfg-x7k2p"}}]`,
		},
		{
			name:    "node credentials",
			obj:     strings.Replace(privatePod, "quay.io/acme/app:1.0", "registry.redhat.io/ubi9/ubi:9.4", 1),
			node:    []string{"registry.redhat.io", "quay.io"},
			secrets: []ns{{name: "quay", keys: []string{"quay.io"}}},
			want:    []string{"node:node:node/config.json"},
			wantMsg: []string{"the nodes' own credentials cover registry.redhat.io"},
		},
		{
			// The kubelet tries the pod's secrets first and keeps the node's as fallback; a
			// cluster-wide pull secret rarely reads a team's private repository.
			name:      "a namespace secret is injected even when node credentials match",
			obj:       strings.Replace(privatePod, "quay.io/acme/app:1.0", "registry.redhat.io/ubi9/ubi:9.4", 1),
			node:      []string{"registry.redhat.io", "quay.io"},
			secrets:   []ns{{name: "rh", keys: []string{"registry.redhat.io"}}},
			want:      []string{"injected:rh"},
			wantPatch: `[{"op":"add","path":"/spec/imagePullSecrets","value":[{"name":"rh"}]}]`,
		},
		{
			name:    "pod secrets come before node credentials",
			obj:     privatePod + "  imagePullSecrets: [{name: mine}]\n",
			secrets: []ns{{name: "mine", keys: []string{"quay.io"}}},
			node:    []string{"quay.io"},
			want:    []string{"covered:mine"},
		},
		{
			name:    "public image untouched",
			obj:     strings.Replace(privatePod, "quay.io/acme/app:1.0", "nginx:1.27", 1),
			secrets: []ns{{name: "quay", keys: []string{"quay.io"}}},
			private: "quay.io",
			want:    []string{"anonymous"},
			wantMsg: []string{"no credentials match docker.io; the kubelet pulls it anonymously"},
		},
		{
			name:    "private registry with no secret: the SPEC message",
			obj:     strings.Replace(privatePod, "quay.io/acme/app:1.0", "registry.redhat.io/ubi9/ubi:9.4", 1),
			private: "registry.redhat.io",
			want:    []string{"missing"},
			wantMsg: []string{`container "app" image "registry.redhat.io/ubi9/ubi:9.4": no pull secret in namespace "team-a" has credentials for registry.redhat.io; create one with 'oc create secret docker-registry <name> --docker-server=registry.redhat.io --docker-username=... --docker-password=... -n team-a' and pullguard will attach it`},
		},
		{
			name:    "near miss: the port differs",
			obj:     strings.Replace(privatePod, "quay.io/acme/app:1.0", "reg.example.com:5000/app:1", 1),
			secrets: []ns{{name: "reg", keys: []string{"reg.example.com"}}},
			private: "*.example.com:5000",
			want:    []string{"missing"},
			wantMsg: []string{`(secret "reg": key "reg.example.com" is for no port but the image uses port 5000; the kubelet requires the same port)`},
		},
		{
			name:    "near miss: a star spanning two labels",
			obj:     strings.Replace(privatePod, "quay.io/acme/app:1.0", "eu.reg.example.com/app:1", 1),
			secrets: []ns{{name: "wild", keys: []string{"*.example.com"}}},
			private: "*.*.example.com",
			want:    []string{"missing"},
			wantMsg: []string{`secret "wild": key "*.example.com": '*' matches inside one DNS label only`},
		},
		{
			name:    "near miss: docker hub key registry-1.docker.io",
			obj:     strings.Replace(privatePod, "quay.io/acme/app:1.0", "acme/private:1", 1),
			secrets: []ns{{name: "hub", keys: []string{"registry-1.docker.io"}}},
			private: "docker.io/acme",
			want:    []string{"missing"},
			wantMsg: []string{`secret "hub": key "registry-1.docker.io" is not one the kubelet uses for Docker Hub`, "--docker-server=docker.io"},
		},
		{
			name:    "near miss on the pod's own secret: a path that does not apply",
			obj:     privatePod + "  imagePullSecrets: [{name: team-b}]\n",
			secrets: []ns{{name: "team-b", keys: []string{"quay.io/team-b"}}},
			private: "quay.io",
			want:    []string{"missing"},
			wantMsg: []string{`secret "team-b" on the pod: key "quay.io/team-b" is scoped to quay.io/team-b, which is not a prefix of quay.io/acme/app`},
		},
		{
			name:      "docker hub fallback secret injected",
			obj:       strings.Replace(privatePod, "quay.io/acme/app:1.0", "bitnami/redis:7", 1),
			secrets:   []ns{{name: "hub", keys: []string{"https://index.docker.io/v1/"}}},
			want:      []string{"injected:hub"},
			wantPatch: `[{"op":"add","path":"/spec/imagePullSecrets","value":[{"name":"hub"}]}]`,
		},
		{
			name:      "dockercfg secret injected like dockerconfigjson",
			obj:       privatePod,
			secrets:   []ns{{name: "legacy", typ: registryauth.TypeDockercfg, keys: []string{"https://quay.io"}}},
			want:      []string{"injected:legacy"},
			wantPatch: `[{"op":"add","path":"/spec/imagePullSecrets","value":[{"name":"legacy"}]}]`,
		},
		{
			name:    "malformed secret on the pod breaks every pull",
			obj:     privatePod + "  - {name: pub, image: nginx}\n  imagePullSecrets: [{name: broken}, {name: good}]\n",
			secrets: []ns{{name: "broken", raw: `{"auths":{"quay.io":{"auth":"not base64!"}}}`}, {name: "good", keys: []string{"quay.io"}}},
			want:    []string{"rejected:broken", "rejected:broken"},
			wantMsg: []string{`pull secret "broken": "auth" is not base64 of "username:password": entry "quay.io"; the kubelet fails every pull of this pod`},
		},
		{
			name:    "secret on the pod without auths wrapper is ignored, and said so",
			obj:     privatePod + "  imagePullSecrets: [{name: flat}]\n",
			secrets: []ns{{name: "flat", raw: `{"quay.io":{"auth":"dTpw"}}`}},
			private: "quay.io",
			want:    []string{"missing"},
			wantMsg: []string{`pull secret "flat": no "auths" wrapper`, "(the kubelet ignores it)"},
		},
		{
			name:    "malformed namespace secret is never injected and is named",
			obj:     privatePod,
			secrets: []ns{{name: "quay-bad", raw: `{"auths":{"quay.io":{"auth":"%%%"}}}`}, {name: "ghcr", keys: []string{"ghcr.io"}}},
			private: "quay.io",
			want:    []string{"missing"},
			wantMsg: []string{`pull secret "quay-bad": "auth" is not base64`, "so it was skipped"},
			notMsg:  []string{`"ghcr"`},
		},
		{
			name:      "malformed namespace secret skipped for a good one",
			obj:       privatePod,
			secrets:   []ns{{name: "a-bad", raw: `{"auths":`}, {name: "b-good", keys: []string{"quay.io"}}},
			want:      []string{"injected:b-good"},
			wantPatch: `[{"op":"add","path":"/spec/imagePullSecrets","value":[{"name":"b-good"}]}]`,
		},
		{
			name:    "enforce-mountable-secrets: a secret the account does not list is not injected",
			obj:     privatePod,
			secrets: []ns{{name: "quay", keys: []string{"quay.io"}}},
			sas:     "metadata: {name: default, annotations: {kubernetes.io/enforce-mountable-secrets: \"true\"}}\n",
			private: "quay.io",
			want:    []string{"missing"},
			wantMsg: []string{`service account "default" enforces mountable secrets and does not list it; link it with 'oc secrets link default quay --for=pull -n team-a'`},
		},
		{
			name:      "enforce-mountable-secrets: only listed secrets are candidates",
			obj:       privatePod + "  imagePullSecrets: [{name: ghcr}]\n",
			secrets:   []ns{{name: "a-quay", keys: []string{"quay.io"}}, {name: "b-quay", keys: []string{"quay.io"}}, {name: "ghcr", keys: []string{"ghcr.io"}}},
			sas:       "metadata: {name: default, annotations: {kubernetes.io/enforce-mountable-secrets: \"true\"}}\nimagePullSecrets: [{name: ghcr}, {name: b-quay}]\n",
			want:      []string{"injected:b-quay"},
			cands:     []string{"b-quay"},
			wantPatch: `[{"op":"add","path":"/spec/imagePullSecrets/-","value":{"name":"b-quay"}}]`,
		},
		{
			name: "one secret for two containers, no duplicates",
			obj: `
kind: Pod
metadata: {name: web}
spec:
  containers:
  - {name: a, image: quay.io/acme/a:1}
  - {name: b, image: quay.io/acme/b:1}
  - {name: c, image: quay.io/acme/a:1}
`,
			secrets:   []ns{{name: "quay", keys: []string{"quay.io"}}},
			want:      []string{"injected:quay", "injected:quay", "injected:quay"},
			wantPatch: `[{"op":"add","path":"/spec/imagePullSecrets","value":[{"name":"quay"}]}]`,
		},
		{
			name: "a secret chosen for one image is reused for another it covers",
			obj: `
kind: Pod
metadata: {name: web}
spec:
  containers:
  - {name: a, image: quay.io/other/a:1}
  - {name: b, image: quay.io/acme/b:1}
`,
			secrets:   []ns{{name: "all-quay", keys: []string{"quay.io"}}, {name: "acme-only", keys: []string{"quay.io/acme"}}},
			want:      []string{"injected:all-quay", "injected:all-quay"},
			cands:     []string{"all-quay"},
			wantPatch: `[{"op":"add","path":"/spec/imagePullSecrets","value":[{"name":"all-quay"}]}]`,
		},
		{
			name: "init, ephemeral containers and image volumes",
			obj: `
kind: Pod
metadata: {name: web}
spec:
  initContainers:
  - {name: init, image: ghcr.io/acme/init:1}
  containers:
  - {name: app, image: nginx}
  ephemeralContainers:
  - {name: debug, image: quay.io/acme/debug:1}
  volumes:
  - name: models
    image: {reference: "reg.example.com/models/llm:v1"}
`,
			secrets:   []ns{{name: "ghcr", keys: []string{"ghcr.io"}}, {name: "quay", keys: []string{"quay.io"}}},
			private:   "reg.example.com",
			want:      []string{"anonymous", "injected:ghcr", "injected:quay", "missing"},
			wantPatch: `[{"op":"add","path":"/spec/imagePullSecrets","value":[{"name":"ghcr"},{"name":"quay"}]}]`,
			wantMsg:   []string{`init container "init" image`, `ephemeral container "debug" image`, `image volume "models" image "reg.example.com/models/llm:v1": no pull secret`},
		},
		{
			name:    "invalid image reference",
			obj:     strings.Replace(privatePod, "quay.io/acme/app:1.0", "quay.io/Acme/App:1.0", 1),
			want:    []string{"rejected"},
			wantMsg: []string{`container "app" image "quay.io/Acme/App:1.0": not a valid image reference (invalid reference format: repository name (Acme/App) must be lowercase); the kubelet cannot pull it`},
		},
		{
			name: "empty image skipped",
			obj:  "kind: Pod\nmetadata: {name: web}\nspec:\n  containers:\n  - {name: app}\n",
			want: []string{},
		},
	})
}

func TestBuildConfigs(t *testing.T) {
	const source = `
kind: BuildConfig
apiVersion: build.openshift.io/v1
metadata: {name: api, namespace: team-a}
spec:
  strategy:
    type: Source
    sourceStrategy:
      from: {kind: DockerImage, name: registry.redhat.io/ubi9/go-toolset:1.22}
`
	builder := "metadata: {name: builder}\nsecrets: [{name: builder-dockercfg-abcde}, {name: rh-linked}]\nimagePullSecrets: [{name: builder-dockercfg-abcde}]\n"
	internal := ns{name: "builder-dockercfg-abcde", typ: registryauth.TypeDockercfg, keys: []string{"image-registry.openshift-image-registry.svc:5000"}}
	runCases(t, []decideCase{
		{
			name:    "builder service account's linked secret covers the builder image",
			obj:     source,
			secrets: []ns{internal, {name: "rh-linked", keys: []string{"registry.redhat.io"}}},
			sas:     builder,
			want:    []string{"covered:rh-linked"},
			wantMsg: []string{`of service account "builder" has credentials for registry.redhat.io`},
		},
		{
			name:      "namespace secret sets pullSecret",
			obj:       source,
			secrets:   []ns{internal, {name: "rh", keys: []string{"registry.redhat.io"}}},
			sas:       builder,
			want:      []string{"injected:rh"},
			wantPatch: `[{"op":"add","path":"/spec/strategy/sourceStrategy/pullSecret","value":{"name":"rh"}}]`,
			wantMsg:   []string{"pullguard sets spec.strategy.sourceStrategy.pullSecret"},
		},
		{
			name:    "pullSecret already set and matching: re-apply is a no-op",
			obj:     source + "      pullSecret: {name: rh}\n",
			secrets: []ns{{name: "rh", keys: []string{"registry.redhat.io"}}},
			want:    []string{"covered:rh"},
		},
		{
			name:    "pullSecret set to a secret without the registry",
			obj:     source + "      pullSecret: {name: quay}\n",
			secrets: []ns{{name: "quay", keys: []string{"quay.io"}}, {name: "rh", keys: []string{"registry.redhat.io"}}},
			private: "registry.redhat.io",
			want:    []string{"missing"},
			wantMsg: []string{`pullSecret "quay" has no credentials for registry.redhat.io; set spec.strategy.sourceStrategy.pullSecret to "rh", which has them`},
		},
		{
			name:    "pullSecret naming a secret that does not exist",
			obj:     source + "      pullSecret: {name: gone}\n",
			want:    []string{"rejected:gone"},
			wantMsg: []string{`pullSecret "gone" is not a pull secret of namespace "team-a"`},
		},
		{
			name: "output push with no credential is missing",
			obj: source + `  output:
    to: {kind: DockerImage, name: quay.io/acme/api:latest}
`,
			secrets:   []ns{{name: "rh", keys: []string{"registry.redhat.io"}}},
			want:      []string{"injected:rh", "missing"},
			wantMsg:   []string{`spec.output.to image "quay.io/acme/api:latest": no pull secret in namespace "team-a" has credentials for quay.io`, "and pullguard will set spec.output.pushSecret"},
			wantPatch: `[{"op":"add","path":"/spec/strategy/sourceStrategy/pullSecret","value":{"name":"rh"}}]`,
		},
		{
			name: "output push secret injected",
			obj: source + `  output:
    to: {kind: DockerImage, name: quay.io/acme/api:latest}
`,
			secrets:   []ns{{name: "rh", keys: []string{"registry.redhat.io"}}, {name: "quay-push", keys: []string{"quay.io/acme"}}},
			want:      []string{"injected:rh", "injected:quay-push"},
			wantPatch: `[{"op":"add","path":"/spec/strategy/sourceStrategy/pullSecret","value":{"name":"rh"}},{"op":"add","path":"/spec/output/pushSecret","value":{"name":"quay-push"}}]`,
		},
		{
			name: "image stream tags are the internal registry's",
			obj: `
kind: BuildConfig
metadata: {name: api}
spec:
  strategy:
    sourceStrategy:
      from: {kind: ImageStreamTag, namespace: openshift, name: "golang:1.22"}
  output:
    to: {kind: ImageStreamTag, name: "api:latest"}
`,
			secrets: []ns{internal},
			sas:     builder,
			want:    []string{"covered:builder-dockercfg-abcde", "covered:builder-dockercfg-abcde"},
			wantMsg: []string{`spec.strategy.sourceStrategy.from ImageStreamTag "golang:1.22": internal registry`},
		},
		{
			name: "source images and a custom service account",
			obj: `
kind: BuildConfig
metadata: {name: api}
spec:
  serviceAccount: ci
  source:
    images:
    - from: {kind: DockerImage, name: "quay.io/acme/assets:1"}
    - from: {kind: ImageStreamTag, name: "tools:1"}
  strategy:
    dockerStrategy: {}
`,
			secrets:   []ns{{name: "quay", keys: []string{"quay.io"}}, {name: "ci-quay", keys: []string{"quay.io/acme"}}},
			sas:       "metadata: {name: ci}\nsecrets: [{name: ci-dockercfg-zzzzz}]\n",
			want:      []string{"injected:ci-quay", "covered:ci-dockercfg-zzzzz"},
			wantPatch: `[{"op":"add","path":"/spec/source/images/0/pullSecret","value":{"name":"ci-quay"}}]`,
		},
		{
			name: "docker strategy from with node credentials",
			obj: `
kind: BuildConfig
metadata: {name: api}
spec:
  strategy:
    dockerStrategy:
      from: {kind: DockerImage, name: registry.redhat.io/ubi9/ubi:9.4}
`,
			node: []string{"registry.redhat.io"},
			want: []string{"node:node:node/config.json"},
		},
		{
			name: "push to docker hub covered through the fallback key of the builder",
			obj: `
kind: BuildConfig
metadata: {name: api}
spec:
  strategy:
    dockerStrategy: {}
  output:
    to: {kind: DockerImage, name: acme/api:1}
`,
			secrets: []ns{{name: "hub", keys: []string{"https://index.docker.io/v1/"}}},
			sas:     "metadata: {name: builder}\nsecrets: [{name: hub}]\n",
			want:    []string{"covered:hub"},
		},
	})
}

func TestWorkloads(t *testing.T) {
	template := func(kind, wrap string) string {
		spec := `template:
  spec:
    containers:
    - {name: app, image: quay.io/acme/app:1}
    - {name: db, image: registry.redhat.io/rhel9/postgresql-16:1}
`
		indent := strings.Repeat("  ", strings.Count(wrap, ":")+1)
		body := indent + strings.ReplaceAll(strings.TrimSuffix(spec, "\n"), "\n", "\n"+indent) + "\n"
		return "kind: " + kind + "\nmetadata: {name: w, namespace: team-a}\nspec:\n" + wrap + body
	}
	secrets := []ns{{name: "quay", keys: []string{"quay.io"}}}
	want := []string{"injected:quay", "missing"}
	cases := []decideCase{}
	for _, kind := range []string{"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "DeploymentConfig"} {
		cases = append(cases, decideCase{
			name: kind + " template resolved, never patched", obj: template(kind, ""),
			secrets: secrets, private: "registry.redhat.io", want: want,
			wantMsg: []string{"pullguard will add it to the pods", `container "db" image "registry.redhat.io/rhel9/postgresql-16:1": no pull secret`},
		})
	}
	cases = append(cases, decideCase{
		name: "CronJob job template", obj: template("CronJob", "  jobTemplate:\n    spec:\n"),
		secrets: secrets, private: "registry.redhat.io", want: want,
	}, decideCase{
		name: "template in a namespace whose account has the secret",
		obj:  template("Deployment", ""), secrets: []ns{{name: "quay", keys: []string{"quay.io"}}, {name: "rh", keys: []string{"registry.redhat.io"}}},
		sas: "metadata: {name: default}\nimagePullSecrets: [{name: rh}]\n",
		// The pods will get the account's secret from the plugin even though the webhook
		// saw the workload after admission plugins: templates always get the rule.
		applied: true,
		want:    []string{"injected:quay", "covered:rh"},
	})
	runCases(t, cases)
}

func TestDecideIgnoresOtherKinds(t *testing.T) {
	if _, ok := Decide(&corev1.ConfigMap{}, &Facts{}); ok || Decidable(&corev1.ConfigMap{}) {
		t.Fatal("a ConfigMap must not be decided")
	}
	if NewObject("", "ConfigMap") != nil || NewObject("extensions", "Deployment") != nil {
		t.Fatal("only the kinds pullguard decides have objects")
	}
}

func TestDenial(t *testing.T) {
	d := &Decision{Images: []ImageDecision{
		{Outcome: Covered, Message: "fine"},
		{Outcome: Missing, Message: "line one"},
		{Outcome: Rejected, Message: "line two"},
	}}
	if got := d.Denial(); got != "line one\nline two" {
		t.Fatalf("Denial = %q", got)
	}
	if d.Count(Missing) != 1 || len(d.Failed()) != 2 {
		t.Fatal("counts wrong")
	}
}

// TestCandidatesStayInKubeletOrder: when a secret chosen for one image also serves another,
// that image still reports its candidates in the kubelet's order.
func TestCandidatesStayInKubeletOrder(t *testing.T) {
	pod := object(t, `
kind: Pod
metadata: {name: web}
spec:
  containers:
  - {name: a, image: quay.io/other/a:1}
  - {name: b, image: quay.io/acme/b:1}
`)
	f := &Facts{Namespace: "team-a", Secrets: index([]ns{{name: "all-quay", keys: []string{"quay.io"}}, {name: "acme-only", keys: []string{"quay.io/acme"}}})}
	d, _ := Decide(pod, f)
	if got := d.Images[1].Candidates; !slices.Equal(got, []string{"acme-only", "all-quay"}) || d.Images[1].Secret != "all-quay" {
		t.Fatalf("candidates %q, secret %q", got, d.Images[1].Secret)
	}
}
