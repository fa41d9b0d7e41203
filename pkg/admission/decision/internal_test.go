package decision

import (
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/pullguard/pullguard/pkg/registryauth"
)

const internalHost = "image-registry.openshift-image-registry.svc:5000"

// internalKeys are the registry names OpenShift writes into every dockercfg secret.
var internalKeys = []string{internalHost, "image-registry.openshift-image-registry.svc.cluster.local:5000", "172.30.0.10:5000"}

// internalPod is a pod of team-a pulling from project team-b of the internal registry, as
// the webhook sees it (after the ServiceAccount plugin); %s is its imagePullSecrets line.
func internalPod(image, secrets string) string {
	return "kind: Pod\nmetadata: {name: web, namespace: team-a}\nspec:\n" + secrets +
		"  containers:\n  - {name: app, image: " + image + "}\n"
}

type internalCase struct {
	name     string
	obj      string
	secrets  []ns
	accounts map[string]string // secret -> the service account its annotations name
	sas      string
	applied  bool
	off      bool // no --internal-registries
	// grants are the questions the API server allows, as "account:project:verb".
	grants []string
	// answer, when set, answers every question not granted (default: refused).
	answer *AccessAnswer
	// nameAfterWait is the dockercfg secret the default account names once the admission
	// step waited ("" : it names none).
	nameAfterWait string

	want      []string
	wantPatch string
	wantMsg   []string // fragments of the messages and notes
	notMsg    []string
	wantAsked []string // every question asked, as "account:project:verb"; nil: none
	wantAwait bool
}

func TestInternalRegistry(t *testing.T) {
	dockercfg := ns{name: "default-dockercfg-x7k2p", typ: registryauth.TypeDockercfg, keys: internalKeys}
	builderCfg := ns{name: "builder-dockercfg-abcde", typ: registryauth.TypeDockercfg, keys: internalKeys}
	owned := map[string]string{"default-dockercfg-x7k2p": "default", "builder-dockercfg-abcde": "builder"}
	defaultSA := "metadata: {name: default, annotations: {openshift.io/internal-registry-pull-secret-ref: default-dockercfg-x7k2p}}\nimagePullSecrets: [{name: default-dockercfg-x7k2p}]\n"
	bareSA := "metadata: {name: default}\n"
	withCfg := "  imagePullSecrets: [{name: default-dockercfg-x7k2p}]\n"
	crossImage := internalHost + "/team-b/app:1"
	runInternalCases(t, []internalCase{
		{
			name: "cross-project pull without a binding: rejected with the oc policy fix",
			obj:  internalPod(crossImage, withCfg), secrets: []ns{dockercfg}, accounts: owned, sas: defaultSA, applied: true,
			want: []string{"rejected:default-dockercfg-x7k2p"},
			wantMsg: []string{
				`service account "default" of namespace "team-a" may not pull from project "team-b" of the internal registry`,
				"'oc policy add-role-to-user system:image-puller system:serviceaccount:team-a:default --namespace=team-b'",
				"'oc policy add-role-to-group system:image-puller system:serviceaccounts:team-a --namespace=team-b'",
			},
			wantAsked: []string{"default:team-b:get"},
		},
		{
			name: "cross-project pull with the binding: covered",
			obj:  internalPod(crossImage, withCfg), secrets: []ns{dockercfg}, accounts: owned, sas: defaultSA, applied: true,
			grants:    []string{"default:team-b:get"},
			want:      []string{"covered:default-dockercfg-x7k2p"},
			wantAsked: []string{"default:team-b:get"},
		},
		{
			name: "the own project is asked too (every project binds its service accounts' group)",
			obj:  internalPod(internalHost+"/team-a/app:1", withCfg), secrets: []ns{dockercfg}, accounts: owned, sas: defaultSA, applied: true,
			grants:    []string{"default:team-a:get"},
			want:      []string{"covered:default-dockercfg-x7k2p"},
			wantAsked: []string{"default:team-a:get"},
		},
		{
			name: "another account's dockercfg on the pod: that account is asked about",
			obj:  internalPod(crossImage, "  imagePullSecrets: [{name: builder-dockercfg-abcde}]\n"), secrets: []ns{dockercfg, builderCfg}, accounts: owned, sas: defaultSA, applied: true,
			grants:    []string{"default:team-b:get"},
			want:      []string{"rejected:builder-dockercfg-abcde"},
			wantMsg:   []string{"system:serviceaccount:team-a:builder --namespace=team-b"},
			wantAsked: []string{"builder:team-b:get"},
		},
		{
			name: "a credential naming no account (a user's token) is not checked, and said so",
			obj:  internalPod(crossImage, "  imagePullSecrets: [{name: alice-token}]\n"), secrets: []ns{{name: "alice-token", keys: []string{internalHost}}}, sas: defaultSA, applied: true,
			want:    []string{"covered:alice-token"},
			wantMsg: []string{`pullguard did not check access to project "team-b" of the internal registry: the credential in secret "alice-token"`},
		},
		{
			name: "either credential may serve: allowed when the second account is",
			obj:  internalPod(crossImage, "  imagePullSecrets: [{name: builder-dockercfg-abcde}, {name: default-dockercfg-x7k2p}]\n"), secrets: []ns{dockercfg, builderCfg}, accounts: owned, sas: defaultSA, applied: true,
			grants:    []string{"default:team-b:get"},
			want:      []string{"covered:builder-dockercfg-abcde"},
			wantAsked: []string{"builder:team-b:get", "default:team-b:get"},
		},
		{
			name: "a pod listing its own secrets gets the account's dockercfg, and is told",
			obj:  internalPod(crossImage, "  imagePullSecrets: [{name: quay}]\n"), secrets: []ns{{name: "quay", keys: []string{"quay.io"}}, dockercfg}, accounts: owned, sas: defaultSA, applied: true,
			grants:    []string{"default:team-b:get"},
			want:      []string{"injected:default-dockercfg-x7k2p"},
			wantPatch: `[{"op":"add","path":"/spec/imagePullSecrets/-","value":{"name":"default-dockercfg-x7k2p"}}]`,
			wantMsg:   []string{"the pod lists its own pull secrets, so the ServiceAccount admission plugin did not add service account \"default\"'s pull secret \"default-dockercfg-x7k2p\""},
			wantAsked: []string{"default:team-b:get"},
		},
		{
			name: "the account's dockercfg is preferred to another account's for a pod listing its own secrets",
			obj:  internalPod(crossImage, "  imagePullSecrets: [{name: quay}]\n"), secrets: []ns{{name: "quay", keys: []string{"quay.io"}}, builderCfg, dockercfg}, accounts: owned, sas: defaultSA, applied: true,
			grants:    []string{"default:team-b:get", "builder:team-b:get"},
			want:      []string{"injected:default-dockercfg-x7k2p"},
			wantPatch: `[{"op":"add","path":"/spec/imagePullSecrets/-","value":{"name":"default-dockercfg-x7k2p"}}]`,
			wantAsked: []string{"default:team-b:get"},
		},
		{
			name: "the account names a dockercfg secret that does not exist yet: admitted, never denied",
			obj:  internalPod(crossImage, withCfg), sas: defaultSA, applied: true,
			grants:    []string{"default:team-b:get"},
			want:      []string{"covered:default-dockercfg-x7k2p"},
			wantMsg:   []string{`pull secret "default-dockercfg-x7k2p" of service account "default" has no credentials yet (missing or empty): the kubelet reads it again on every pull retry`},
			wantAsked: []string{"default:team-b:get"},
		},
		{
			name: "an empty dockercfg secret is not filled yet either",
			obj:  internalPod(crossImage, withCfg), secrets: []ns{{name: "default-dockercfg-x7k2p", typ: registryauth.TypeDockercfg, raw: "{}"}}, sas: defaultSA, applied: true,
			grants:  []string{"default:team-b:get"},
			want:    []string{"covered:default-dockercfg-x7k2p"},
			wantMsg: []string{"has no credentials yet"}, wantAsked: []string{"default:team-b:get"},
		},
		{
			name: "no dockercfg named yet: waited for, then injected though still missing",
			obj:  internalPod(crossImage, ""), sas: bareSA, applied: true,
			nameAfterWait: "default-dockercfg-xyz", grants: []string{"default:team-b:get"},
			want:      []string{"injected:default-dockercfg-xyz"},
			wantPatch: `[{"op":"add","path":"/spec/imagePullSecrets","value":[{"name":"default-dockercfg-xyz"}]}]`,
			wantMsg:   []string{"named its pull secret \"default-dockercfg-xyz\" for the internal registry only after the pod was created", "has no credentials yet"},
			wantAsked: []string{"default:team-b:get"},
			wantAwait: true,
		},
		{
			name: "no dockercfg named even after the wait: missing, retry",
			obj:  internalPod(crossImage, ""), sas: bareSA, applied: true,
			want:      []string{"missing"},
			wantMsg:   []string{`service account "default" of namespace "team-a" names no dockercfg secret for the internal registry yet`, NotReadyMessage},
			wantAwait: true,
		},
		{
			name: "no dockercfg named after the wait, but another account's matches: injected and asked about",
			obj:  internalPod(crossImage, ""), secrets: []ns{builderCfg}, accounts: owned, sas: bareSA, applied: true,
			grants:    []string{"builder:team-b:get"},
			want:      []string{"injected:builder-dockercfg-abcde"},
			wantPatch: `[{"op":"add","path":"/spec/imagePullSecrets","value":[{"name":"builder-dockercfg-abcde"}]}]`,
			wantAsked: []string{"builder:team-b:get"},
			wantAwait: true,
		},
		{
			name: "the API server could not be asked: undecided",
			obj:  internalPod(crossImage, withCfg), secrets: []ns{dockercfg}, accounts: owned, sas: defaultSA, applied: true,
			answer:    &AccessAnswer{Status: AccessUnavailable, Reason: "the API server did not answer"},
			want:      []string{"indeterminate:default-dockercfg-x7k2p"},
			wantMsg:   []string{`could not ask the API server whether service account "default" of namespace "team-a" may pull from project "team-b"`},
			wantAsked: []string{"default:team-b:get"},
		},
		{
			name: "offline without RBAC objects: not checked, said so, not failed",
			obj:  internalPod(crossImage, withCfg), secrets: []ns{dockercfg}, accounts: owned, sas: defaultSA, applied: true,
			answer:    &AccessAnswer{Status: AccessNotChecked, Reason: "no RoleBindings in the input"},
			want:      []string{"covered:default-dockercfg-x7k2p"},
			wantMsg:   []string{"was not checked offline (no RoleBindings in the input)"},
			wantAsked: []string{"default:team-b:get"},
		},
		{
			name: "without --internal-registries nothing changes",
			obj:  internalPod(crossImage, withCfg), secrets: []ns{dockercfg}, accounts: owned, sas: defaultSA, applied: true, off: true,
			want: []string{"covered:default-dockercfg-x7k2p"},
		},
		{
			name: "an internal image outside any project path is not asked about",
			obj:  internalPod(internalHost+"/app:1", withCfg), secrets: []ns{dockercfg}, accounts: owned, sas: defaultSA, applied: true,
			want: []string{"covered:default-dockercfg-x7k2p"},
		},
		{
			name: "manifests (no admission plugin ran): the account's dockercfg applies, no wait",
			obj:  internalPod(crossImage, ""), secrets: []ns{dockercfg}, accounts: owned, sas: defaultSA,
			want:      []string{"rejected:default-dockercfg-x7k2p"},
			wantAsked: []string{"default:team-b:get"},
		},
		{
			name:    "a workload template: warned about, never waited for",
			obj:     "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: team-a}\nspec:\n  selector: {}\n  template:\n    spec:\n      containers:\n      - {name: app, image: " + crossImage + "}\n",
			secrets: []ns{dockercfg}, accounts: owned, sas: defaultSA, applied: true,
			want:      []string{"rejected:default-dockercfg-x7k2p"},
			wantAsked: []string{"default:team-b:get"},
		},
	})
}

func TestInternalRegistryBuilds(t *testing.T) {
	builderSA := "metadata: {name: builder}\nsecrets: [{name: builder-dockercfg-abcde}]\nimagePullSecrets: [{name: builder-dockercfg-abcde}]\n"
	builderCfg := ns{name: "builder-dockercfg-abcde", typ: registryauth.TypeDockercfg, keys: internalKeys}
	owned := map[string]string{"builder-dockercfg-abcde": "builder"}
	bc := func(from, to string) string {
		s := "apiVersion: build.openshift.io/v1\nkind: BuildConfig\nmetadata: {name: app, namespace: team-a}\nspec:\n  strategy:\n    sourceStrategy:\n      from: " + from + "\n"
		if to != "" {
			s += "  output:\n    to: " + to + "\n"
		}
		return s
	}
	runInternalCases(t, []internalCase{
		{
			name: "an ImageStreamTag of another project needs image-puller for the builder there",
			obj:  bc("{kind: ImageStreamTag, namespace: team-b, name: 'ruby:3'}", ""), secrets: []ns{builderCfg}, accounts: owned, sas: builderSA,
			want:      []string{"rejected:builder-dockercfg-abcde"},
			wantMsg:   []string{"'oc policy add-role-to-user system:image-puller system:serviceaccount:team-a:builder --namespace=team-b'"},
			wantAsked: []string{"builder:team-b:get"},
		},
		{
			name: "bound: covered",
			obj:  bc("{kind: ImageStreamTag, namespace: team-b, name: 'ruby:3'}", ""), secrets: []ns{builderCfg}, accounts: owned, sas: builderSA,
			grants: []string{"builder:team-b:get"}, want: []string{"covered:builder-dockercfg-abcde"}, wantAsked: []string{"builder:team-b:get"},
		},
		{
			name: "an ImageStreamTag of the build's own project is not asked about",
			obj:  bc("{kind: ImageStreamTag, name: 'ruby:3'}", ""), secrets: []ns{builderCfg}, accounts: owned, sas: builderSA,
			want: []string{"covered:builder-dockercfg-abcde"},
		},
		{
			name: "output pushed to another project needs update there, as image-builder grants",
			obj:  bc("{kind: ImageStreamTag, name: 'ruby:3'}", "{kind: ImageStreamTag, namespace: team-b, name: 'app:latest'}"), secrets: []ns{builderCfg}, accounts: owned, sas: builderSA,
			grants:    []string{"builder:team-b:get"},
			want:      []string{"covered:builder-dockercfg-abcde", "rejected:builder-dockercfg-abcde"},
			wantMsg:   []string{`may not push to project "team-b"`, "'oc policy add-role-to-user system:image-builder system:serviceaccount:team-a:builder --namespace=team-b'"},
			wantAsked: []string{"builder:team-b:update"},
		},
		{
			name: "a DockerImage on the internal registry of another project",
			obj:  bc("{kind: DockerImage, name: '"+internalHost+"/team-b/ruby:3'}", ""), secrets: []ns{builderCfg}, accounts: owned, sas: builderSA,
			want: []string{"rejected:builder-dockercfg-abcde"}, wantAsked: []string{"builder:team-b:get"},
		},
		{
			name: "without --internal-registries image streams stay covered",
			obj:  bc("{kind: ImageStreamTag, namespace: team-b, name: 'ruby:3'}", ""), secrets: []ns{builderCfg}, accounts: owned, sas: builderSA, off: true,
			want: []string{"covered:builder-dockercfg-abcde"},
		},
	})
}

func runInternalCases(t *testing.T, cases []internalCase) {
	t.Helper()
	internal, err := registryauth.ParsePatterns(internalHost + ",172.30.0.10:5000")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			parsed := make([]*registryauth.PullSecret, len(tc.secrets))
			for i, s := range tc.secrets {
				parsed[i] = s.parse()
				parsed[i].ServiceAccount = tc.accounts[s.name]
			}
			accounts := serviceAccounts(t, tc.sas)
			f := &Facts{Namespace: "team-a", Secrets: registryauth.NewSecretIndex(parsed), ServiceAccounts: accounts, ServiceAccountApplied: tc.applied}
			if !tc.off {
				f.InternalRegistries = internal
			}
			obj := object(t, tc.obj)
			d, _ := Decide(obj, f)
			var asked []string
			awaited := false
			// The admission step's rounds: wait for the dockercfg secret, ask, decide again.
			for round := 0; round < 4; round++ {
				if len(d.AwaitDockercfg) > 0 && !f.DockercfgWaited {
					awaited = true
					if tc.nameAfterWait != "" {
						sa := accounts["default"].DeepCopy()
						sa.ImagePullSecrets = append(sa.ImagePullSecrets, corev1.LocalObjectReference{Name: tc.nameAfterWait})
						accounts["default"] = sa
					}
					f.DockercfgWaited = true
				} else if len(d.Questions) > 0 {
					if f.Answers == nil {
						f.Answers = Answers{}
					}
					for _, q := range d.Questions {
						key := q.ServiceAccount + ":" + q.Project + ":" + q.Verb
						asked = append(asked, key)
						switch {
						case slices.Contains(tc.grants, key):
							f.Answers[q] = AccessAnswer{Status: AccessAllowed}
						case tc.answer != nil:
							f.Answers[q] = *tc.answer
						default:
							f.Answers[q] = AccessAnswer{Status: AccessRefused, Reason: "no RBAC policy matched"}
						}
						if q.Namespace != "team-a" || !slices.Equal(q.Groups(), []string{"system:serviceaccounts", "system:serviceaccounts:team-a", "system:authenticated"}) {
							t.Errorf("question %+v: wrong account namespace or groups %q", q, q.Groups())
						}
					}
				} else {
					break
				}
				d, _ = Decide(obj, f)
			}
			msgs := messages(d) + "\n" + strings.Join(d.Notes, "\n")
			if got := summary(d); !slices.Equal(got, tc.want) {
				t.Errorf("outcomes = %q, want %q\n%s", got, tc.want, msgs)
			}
			// Only the secret list: what else the patch records is not this rule's.
			var ops []PatchOp
			for _, op := range d.Patch {
				if strings.HasPrefix(op.Path, "/spec/imagePullSecrets") {
					ops = append(ops, op)
				}
			}
			if got := patchJSON(t, ops); got != tc.wantPatch {
				t.Errorf("patch = %s\nwant    %s", got, tc.wantPatch)
			}
			if !slices.Equal(asked, tc.wantAsked) {
				t.Errorf("asked %q, want %q", asked, tc.wantAsked)
			}
			if awaited != tc.wantAwait {
				t.Errorf("waited for the dockercfg secret: %v, want %v", awaited, tc.wantAwait)
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
		})
	}
}
