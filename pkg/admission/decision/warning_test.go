package decision

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/pullguard/pullguard/pkg/registryauth"
)

func TestWarnings(t *testing.T) {
	const createRH = `pullguard: create a pull secret for registry.redhat.io: oc create secret docker-registry <name> --docker-server=registry.redhat.io --docker-username=... --docker-password=... -n team-a`
	manyContainers := "kind: Pod\nmetadata: {name: web}\nspec:\n  containers:\n"
	for i := range 30 {
		manyContainers += fmt.Sprintf("  - {name: a-rather-long-container-name-%02d, image: registry.redhat.io/ubi9/ubi:9.4}\n", i)
	}
	tests := []struct {
		name    string
		tc      kubeletCase
		private string
		want    []string // the warnings, in order
	}{
		{
			name: "two containers of one registry share one warning and one command",
			tc: kubeletCase{obj: `
kind: Pod
metadata: {name: web}
spec:
  containers:
  - {name: app, image: registry.redhat.io/ubi9/ubi:9.4}
  - {name: side, image: registry.redhat.io/ubi9/httpd-24:1}
`},
			private: "registry.redhat.io",
			want:    []string{createRH + ` (containers "app", "side")`},
		},
		{
			name: "kinds of place are named apart; other registries get their own warning",
			tc: kubeletCase{obj: `
kind: Pod
metadata: {name: web}
spec:
  initContainers:
  - {name: init, image: registry.redhat.io/ubi9/ubi:9.4}
  containers:
  - {name: app, image: registry.redhat.io/ubi9/ubi:9.4}
  - {name: cache, image: quay.io/acme/cache:1}
`},
			private: "registry.redhat.io,quay.io",
			want: []string{
				createRH + ` (container "app", init container "init")`,
				`pullguard: create a pull secret for quay.io: oc create secret docker-registry <name> --docker-server=quay.io --docker-username=... --docker-password=... -n team-a (container "cache")`,
			},
		},
		{
			name: "why a nearby secret does not match, when it fits",
			tc: kubeletCase{obj: `
kind: Pod
metadata: {name: web}
spec:
  containers:
  - {name: app, image: quay.io/acme/app:1}
`, secrets: []ns{{name: "quay", keys: []string{"Quay.io"}}}},
			private: "quay.io",
			want:    []string{`pullguard: create a pull secret for quay.io: oc create secret docker-registry <name> --docker-server=quay.io --docker-username=... --docker-password=... -n team-a (container "app"; secret "quay": `},
		},
		{
			name:    "thirty containers: the first few named, the count of the rest, under 256 characters",
			tc:      kubeletCase{obj: manyContainers},
			private: "registry.redhat.io",
			want:    []string{createRH + ` (container "a-rather-long-container-name-00" and 29 more)`},
		},
		{
			name: "a malformed secret on the pod: one fix for every image",
			tc: kubeletCase{obj: `
kind: Pod
metadata: {name: web}
spec:
  imagePullSecrets: [{name: broken}]
  containers:
  - {name: app, image: quay.io/acme/app:1}
  - {name: side, image: ghcr.io/acme/side:1}
`, secrets: []ns{{name: "broken", raw: `{"auths":{"quay.io":{"auth":"%%%"}}}`}}},
			want: []string{`pullguard: fix pull secret "broken" or remove it from imagePullSecrets (containers "app", "side"; "auth" is not base64 of "username:password"`},
		},
		{
			name: "imagePullPolicy Never: one warning for the pod",
			tc: kubeletCase{obj: `
kind: Pod
metadata: {name: web}
spec:
  containers:
  - {name: app, image: quay.io/acme/app:1, imagePullPolicy: Never}
  - {name: side, image: ghcr.io/acme/side:1, imagePullPolicy: Never}
`},
			want: []string{`pullguard: the pod runs only if these images are already on its node (containers "app", "side"; imagePullPolicy is Never; kubelets 1.35+ (KubeletEnsureSecretPulledImages) also want this pod's credentials for images they pulled themselves)`},
		},
		{
			name: "a refused credential: renew it",
			tc: kubeletCase{obj: `
kind: Pod
metadata: {name: web}
spec:
  imagePullSecrets: [{name: expired}]
  containers:
  - {name: app, image: quay.io/acme/app:1}
`, secrets: []ns{{name: "expired", keys: []string{"quay.io"}}},
				answers: answers{"expired": {Status: registryauth.ProbeUnauthorized, HTTPStatus: 401}}},
			want: []string{`pullguard: renew the credentials in secret "expired" for quay.io (container "app"; the registry refused them: HTTP 401; the token may have expired)`},
		},
		{
			name: "a missing tag: fix the reference",
			tc: kubeletCase{obj: `
kind: Pod
metadata: {name: web}
spec:
  containers:
  - {name: app, image: quay.io/acme/app:1.0-typo}
`, answers: answers{"": {Status: registryauth.ProbeNotFound, HTTPStatus: 404, Code: "MANIFEST_UNKNOWN"}}},
			want: []string{`pullguard: fix the image reference: tag "1.0-typo" does not exist in quay.io/acme/app (container "app"; HTTP 404 MANIFEST_UNKNOWN)`},
		},
		{
			name: "images that pull give none",
			tc: kubeletCase{obj: `
kind: Pod
metadata: {name: web}
spec:
  containers:
  - {name: app, image: quay.io/acme/app:1}
`, secrets: []ns{{name: "quay", keys: []string{"quay.io"}}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := tt.tc.facts(t)
			f.FailureMessagesOnly = true // as in a webhook
			var err error
			if f.PrivateRegistries, err = registryauth.ParsePatterns(tt.private); err != nil {
				t.Fatal(err)
			}
			d, _ := decideInRounds(t, object(t, tt.tc.obj), f, tt.tc.answers)
			got := Warnings(d.Images)
			if len(got) != len(tt.want) {
				t.Fatalf("got %d warnings, want %d:\n%s", len(got), len(tt.want), strings.Join(got, "\n"))
			}
			for i, w := range got {
				if !strings.HasPrefix(w, tt.want[i]) {
					t.Errorf("warning %d:\n got %s\nwant %s", i, w, tt.want[i])
				}
				if len(w) > MaxWarningLength {
					t.Errorf("warning %d has %d characters, more than %d: %s", i, len(w), MaxWarningLength, w)
				}
				if strings.Contains(w, testPassword) {
					t.Errorf("warning %d holds a password: %s", i, w)
				}
			}
		})
	}
}

func TestInjectedAnnotation(t *testing.T) {
	tests := []struct {
		name string
		pod  string
		want string // the last op of the patch, JSON
	}{
		{
			name: "a pod without annotations gets the map",
			pod:  "kind: Pod\nmetadata: {name: web}\nspec:\n  containers:\n  - {name: app, image: quay.io/acme/app:1}\n  - {name: side, image: ghcr.io/acme/side:1}\n",
			want: `[{"op":"add","path":"/metadata/annotations","value":{"pullguard.io/injected":"quay,ghcr"}}]`,
		},
		{
			name: "a pod with annotations gets the key, its slash escaped",
			pod:  "kind: Pod\nmetadata: {name: web, annotations: {team: a}}\nspec:\n  containers:\n  - {name: app, image: quay.io/acme/app:1}\n",
			want: `[{"op":"add","path":"/metadata/annotations/pullguard.io~1injected","value":"quay"}]`,
		},
		{
			name: "nothing injected: no patch, no annotation",
			pod:  "kind: Pod\nmetadata: {name: web}\nspec:\n  containers:\n  - {name: app, image: docker.io/library/nginx:1}\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &Facts{Namespace: "team-a", ServiceAccountApplied: true, ServiceAccounts: ServiceAccountMap{},
				Secrets: index([]ns{{name: "quay", keys: []string{"quay.io"}}, {name: "ghcr", keys: []string{"ghcr.io"}}})}
			d, _ := Decide(object(t, tt.pod), f)
			if tt.want == "" {
				if len(d.Patch) != 0 {
					t.Fatalf("patch %+v, want none", d.Patch)
				}
				return
			}
			if len(d.Patch) < 2 {
				t.Fatalf("patch %+v: want the secrets, then the annotation", d.Patch)
			}
			last := d.Patch[len(d.Patch)-1:]
			if b, _ := json.Marshal(last); string(b) != tt.want {
				got := string(b)
				t.Errorf("annotation op %s\n            want %s", got, tt.want)
			}
		})
	}
}
