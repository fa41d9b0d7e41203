package decision

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/pullguard/pullguard/pkg/registryauth"
	"github.com/pullguard/pullguard/pkg/registryauth/mirrors"
)

// Issue 16: the decision follows the endpoints the runtime really tries. These cases pin
// each fact of the issue: which endpoints, in which order, with whose credential, and what
// pullguard then says and injects.

const (
	srcHost   = "registry.redhat.io"
	mirHost   = "mirror.corp:5000"
	srcRepo   = srcHost + "/ubi9/ubi"
	mirRepo   = mirHost + "/ubi9/ubi"
	sameRepo  = srcHost + "/mirror/ubi9/ubi" // a mirror on the source's host
	ubiDigest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	byDigest  = srcRepo + "@" + ubiDigest
	byTag     = srcRepo + ":9.4"
	nodeFile  = "node/config.json"
	nodeCand  = nodePrefix + nodeFile
)

func idmsSet(name, source string, policy mirrors.MirrorSourcePolicy, to ...string) mirrors.MirrorSet {
	return mirrors.MirrorSet{APIVersion: "config.openshift.io/v1", Kind: mirrors.KindImageDigestMirrorSet, Metadata: mirrors.MirrorSetMeta{Name: name},
		Spec: mirrors.MirrorSetSpec{ImageDigestMirrors: []mirrors.ImageMirrors{{Source: source, Mirrors: to, MirrorSourcePolicy: policy}}}}
}

func itmsSet(name, source string, to ...string) mirrors.MirrorSet {
	return mirrors.MirrorSet{APIVersion: "config.openshift.io/v1", Kind: mirrors.KindImageTagMirrorSet, Metadata: mirrors.MirrorSetMeta{Name: name},
		Spec: mirrors.MirrorSetSpec{ImageTagMirrors: []mirrors.ImageMirrors{{Source: source, Mirrors: to}}}}
}

func crioSets(sets ...mirrors.MirrorSet) *mirrors.Config {
	return mirrors.New(mirrors.CRIO, mirrors.FromMirrorSets(sets))
}

// digestMirror: ImageDigestMirrorSet ubi-mirror sends registry.redhat.io/ubi9 to mirror.corp:5000/ubi9.
var digestMirror = idmsSet("ubi-mirror", srcHost+"/ubi9", "", mirHost+"/ubi9")

// nodeAuth is the nodes' auth file: keys and their passwords.
func nodeAuth(keys map[string]string) *registryauth.Keyring {
	auths := map[string]map[string]string{}
	for k, pw := range keys {
		auths[k] = map[string]string{"auth": base64.StdEncoding.EncodeToString([]byte("n:" + pw))}
	}
	raw, _ := json.Marshal(map[string]any{"auths": auths})
	return registryauth.NewKeyring(registryauth.ParseConfigFile(nodeFile, raw))
}

// mirrorCase decides a one-container pod under a mirror configuration. Probes are answered
// by "<image name at the endpoint> <password>" (password "" for an anonymous request).
type mirrorCase struct {
	name        string
	config      *mirrors.Config
	image       string
	listed      []string // the pod's imagePullSecrets
	secrets     []ns
	node        map[string]string // auth-file key -> password
	nodeFile    string            // the nodes' config.json as written, read by kubelet and CRI-O rules
	private     string
	answers     map[string]registryauth.Verdict // nil: no verification
	notSent     []string                        // answers pkg/admission/verify did not send (Facts.NotSent)
	sources     []string                        // credential provider patterns
	nodeSecrets []string                        // Facts.NodeSecrets (--node-credentials)

	want      string // "outcome:secret"
	wantPatch bool
	wantMsg   []string
	wantWarn  []string
	noMsg     []string
	endpoints string // "host|mirror_of|credential|result" per endpoint, ", " between
	asked     []string
}

func (tc mirrorCase) run(t *testing.T) *Decision {
	t.Helper()
	private, err := registryauth.ParsePatterns(tc.private)
	if err != nil {
		t.Fatal(err)
	}
	f := &Facts{Namespace: "team-a", Secrets: index(tc.secrets), ServiceAccountApplied: true, Mirrors: tc.config, PrivateRegistries: private, Verify: tc.answers != nil, NodeSecrets: tc.nodeSecrets}
	if tc.node != nil {
		f.Node = nodeAuth(tc.node)
	}
	if tc.nodeFile != "" {
		f.Node = registryauth.NewKeyring(registryauth.ParseConfigFile(nodeFile, []byte(tc.nodeFile)))
		f.NodeAuthFile = registryauth.NewKeyring(registryauth.ParseAuthFile(nodeFile, []byte(tc.nodeFile)))
	}
	if len(tc.sources) > 0 {
		p, err := registryauth.NewCredentialProvider("ecr", tc.sources)
		if err != nil {
			t.Fatal(err)
		}
		f.Providers = append(f.Providers, p)
	}
	pod := verifyPod(tc.listed, tc.image)
	d := Pod(pod, f)
	var asked []string
	if f.Verify {
		f.Verdicts, f.NotSent = Verdicts{}, map[registryauth.ProbeKey]bool{}
		for round := 0; len(d.Probes) > 0; round++ {
			if round == 8 {
				t.Fatalf("still asking after 8 rounds (verify's maxMirroredRounds): %+v", d.Probes)
			}
			for _, req := range d.Probes {
				pw := ""
				if req.Credential != nil {
					pw = req.Credential.Password()
				}
				key := req.Image.Name + " " + pw
				vd, ok := tc.answers[key]
				if !ok {
					t.Fatalf("unexpected probe %q (%s): the runtime would not try it", key, req.Source)
				}
				asked = append(asked, key)
				f.Verdicts[req.Key] = vd
				f.NotSent[req.Key] = slices.Contains(tc.notSent, key)
			}
			d = Pod(pod, f)
		}
	}
	msgs := messages(d)
	if got := summary(d); len(got) != 1 || got[0] != tc.want {
		t.Errorf("outcome = %q, want %q\n%s", got, tc.want, msgs)
	}
	if got := len(d.Patch) > 0; got != tc.wantPatch {
		t.Errorf("patched = %v, want %v: %+v", got, tc.wantPatch, d.Patch)
	}
	for _, frag := range tc.wantMsg {
		if !strings.Contains(msgs, frag) {
			t.Errorf("message lacks %q:\n%s", frag, msgs)
		}
	}
	warnings := strings.Join(Warnings(d.Images), "\n")
	for _, frag := range tc.wantWarn {
		if !strings.Contains(warnings, frag) {
			t.Errorf("warnings lack %q:\n%s", frag, warnings)
		}
	}
	for _, frag := range tc.noMsg {
		if strings.Contains(msgs, frag) {
			t.Errorf("message has %q:\n%s", frag, msgs)
		}
	}
	if got := renderEndpoints(d.Images[0].Endpoints); got != tc.endpoints {
		t.Errorf("endpoints:\n  %s\nwant\n  %s", got, tc.endpoints)
	}
	if tc.asked != nil && !slices.Equal(asked, tc.asked) {
		t.Errorf("asked %q\nwant  %q", asked, tc.asked)
	}
	if strings.Contains(msgs, "p-") || strings.Contains(msgs, testPassword) {
		t.Errorf("a message shows a credential:\n%s", msgs)
	}
	return d
}

func renderEndpoints(es []Endpoint) string {
	parts := make([]string, len(es))
	for i, e := range es {
		parts[i] = fmt.Sprintf("%s|%s|%s|%s", e.Host, e.MirrorOf, e.Credential, e.Result)
	}
	return strings.Join(parts, ", ")
}

var (
	podSecret   = ns{name: "pull", keys: []string{srcHost}, password: "p-pod"}
	staleSecret = ns{name: "pull", keys: []string{srcHost}, password: "p-stale"}
)

func TestMirrors(t *testing.T) {
	cases := []mirrorCase{
		{
			name:   "a configuration for other registries changes nothing",
			config: crioSets(idmsSet("other", "quay.io/other", "", mirHost+"/other")),
			image:  byDigest, listed: []string{"pull"}, secrets: []ns{podSecret},
			want: "covered:pull", wantMsg: []string{`pull secret "pull" on the pod has credentials for registry.redhat.io`},
			noMsg: []string{"mirror"},
		},
		{
			name:   "digest: the digest mirror first, with the nodes' auth file for its host",
			config: crioSets(digestMirror),
			image:  byDigest, listed: []string{"pull"}, secrets: []ns{podSecret}, node: map[string]string{mirHost: "p-node"},
			want:      "node:" + nodeCand,
			wantMsg:   []string{"pulled through mirror mirror.corp:5000 (ImageDigestMirrorSet ubi-mirror) with the nodes' credentials (node/config.json), which CRI-O uses there"},
			endpoints: "mirror.corp:5000|registry.redhat.io/ubi9|node:node/config.json|",
		},
		{
			name:   "tag: a digest-only mirror is skipped, the source serves with the pod's secret",
			config: crioSets(digestMirror),
			image:  byTag, listed: []string{"pull"}, secrets: []ns{podSecret}, node: map[string]string{mirHost: "p-node"},
			answers:   map[string]registryauth.Verdict{srcRepo + " p-pod": ok},
			want:      "covered:pull",
			endpoints: "registry.redhat.io||pull|ok, mirror.corp:5000|registry.redhat.io/ubi9||skipped",
			asked:     []string{srcRepo + " p-pod"},
		},
		{
			name:   "tag: a tag-only mirror serves tags",
			config: crioSets(itmsSet("ubi-tags", srcHost+"/ubi9", mirHost+"/ubi9")),
			image:  byTag, node: map[string]string{mirHost: "p-node"},
			answers:   map[string]registryauth.Verdict{mirRepo + " p-node": ok},
			want:      "node:" + nodeCand,
			endpoints: "mirror.corp:5000|registry.redhat.io/ubi9|node:node/config.json|ok",
			asked:     []string{mirRepo + " p-node"},
		},
		{
			name:   "NeverContactSource: the source is never asked, even when the mirror refuses",
			config: crioSets(idmsSet("ubi-mirror", srcHost+"/ubi9", mirrors.NeverContactSource, mirHost+"/ubi9")),
			image:  byDigest, listed: []string{"pull"}, secrets: []ns{podSecret}, node: map[string]string{mirHost: "p-stale"},
			answers:   map[string]registryauth.Verdict{mirRepo + " p-stale": expired},
			want:      "rejected:pull",
			wantMsg:   []string{`mirror mirror.corp:5000 (ImageDigestMirrorSet ubi-mirror) refused the nodes' credentials (node/config.json): HTTP 401`},
			endpoints: "mirror.corp:5000|registry.redhat.io/ubi9|node:node/config.json|unauthorized, registry.redhat.io|||blocked",
			asked:     []string{mirRepo + " p-stale"},
		},
		{
			name:   "CRI-O: a mirror on the source's host gets the pod's secret",
			config: crioSets(idmsSet("same-host", srcHost+"/ubi9", "", srcHost+"/mirror/ubi9")),
			image:  byDigest, listed: []string{"pull"}, secrets: []ns{podSecret}, node: map[string]string{srcHost + "/mirror": "p-node"},
			answers:   map[string]registryauth.Verdict{sameRepo + " p-pod": ok},
			want:      "covered:pull",
			wantMsg:   []string{`pulled through mirror registry.redhat.io (ImageDigestMirrorSet same-host)`},
			endpoints: "registry.redhat.io|registry.redhat.io/ubi9|pull|ok",
			asked:     []string{sameRepo + " p-pod"},
		},
		{
			name:   "CRI-O: a stale pod secret at a same-host mirror blocks a good node key there",
			config: crioSets(idmsSet("same-host", srcHost+"/ubi9", "", srcHost+"/mirror/ubi9")),
			image:  byDigest, listed: []string{"pull"}, secrets: []ns{staleSecret}, node: map[string]string{srcHost + "/mirror": "p-node"},
			answers: map[string]registryauth.Verdict{sameRepo + " p-stale": expired, srcRepo + " p-stale": expired},
			want:    "rejected:pull",
			wantMsg: []string{
				`mirror registry.redhat.io (ImageDigestMirrorSet same-host) refused the credentials in secret "pull": HTTP 401`,
				`the nodes' credentials (node/config.json) for registry.redhat.io/mirror are not used there: CRI-O sends the kubelet's credential to a mirror on the source's host`,
			},
			endpoints: "registry.redhat.io|registry.redhat.io/ubi9|pull|unauthorized, registry.redhat.io||pull|unauthorized",
			asked:     []string{sameRepo + " p-stale", srcRepo + " p-stale"},
		},
		{
			// containers/image reads only "auth": a username and password without it are no
			// credential in CRI-O's auth file, though the kubelet reads them.
			name:      "CRI-O: a node entry with only username and password is no credential at the mirror",
			config:    crioSets(digestMirror),
			image:     byDigest,
			nodeFile:  `{"auths":{"` + mirHost + `":{"username":"n","password":"p-node"}}}`,
			answers:   map[string]registryauth.Verdict{mirRepo + " ": expired, srcRepo + " ": expired},
			want:      "missing",
			wantMsg:   []string{"or give the nodes credentials for mirror mirror.corp:5000 (ImageDigestMirrorSet ubi-mirror), which CRI-O tries first"},
			endpoints: "mirror.corp:5000|registry.redhat.io/ubi9||unauthorized, registry.redhat.io|||unauthorized",
			asked:     []string{mirRepo + " ", srcRepo + " "},
		},
		{
			// containers/image fails only the lookups that reach an undecodable "auth"; the
			// kubelet drops the whole file. CRI-O falls through to the source, where it reads
			// the file's other key (the kubelet sends none).
			name:      "CRI-O: an undecodable node entry for the mirror fails there unasked; its sibling serves the source",
			config:    crioSets(digestMirror),
			image:     byDigest,
			nodeFile:  `{"auths":{"` + mirHost + `":{"auth":"!!!"},"` + srcHost + `":{"auth":"` + base64.StdEncoding.EncodeToString([]byte("n:p-src")) + `"}}}`,
			answers:   map[string]registryauth.Verdict{srcRepo + " p-src": ok},
			want:      "node:" + nodeCand,
			wantMsg:   []string{`the entry "mirror.corp:5000" of the nodes' credentials (node/config.json) is not base64 of username:password, so CRI-O fails the pull there without contacting it`},
			endpoints: "mirror.corp:5000|registry.redhat.io/ubi9|node:node/config.json|, registry.redhat.io||node:node/config.json|ok",
			asked:     []string{srcRepo + " p-src"},
		},
		{
			// A mirror probe pkg/admission/verify did not send (the namespace's probe rate)
			// is no failure: the runtime may well be served there, so the source stays unasked.
			name:   "a mirror probe not sent keeps the source unasked",
			config: crioSets(digestMirror),
			image:  byDigest, node: map[string]string{mirHost: "p-node"},
			answers:   map[string]registryauth.Verdict{mirRepo + " p-node": {Status: registryauth.ProbeUnavailable, Reason: ReasonProbeRate}},
			notSent:   []string{mirRepo + " p-node"},
			want:      "indeterminate",
			wantMsg:   []string{ReasonProbeRate},
			endpoints: "mirror.corp:5000|registry.redhat.io/ubi9|node:node/config.json|unavailable, registry.redhat.io|||unavailable",
			asked:     []string{mirRepo + " p-node"},
		},
		{
			name:   "a mirror probe over the review's limit keeps the source unasked",
			config: crioSets(digestMirror),
			image:  byDigest, node: map[string]string{mirHost: "p-node"},
			answers:   map[string]registryauth.Verdict{mirRepo + " p-node": {Status: registryauth.ProbeUnavailable, Reason: ReasonProbeLimit}},
			notSent:   []string{mirRepo + " p-node"},
			want:      "indeterminate",
			endpoints: "mirror.corp:5000|registry.redhat.io/ubi9|node:node/config.json|unavailable, registry.redhat.io|||unavailable",
			asked:     []string{mirRepo + " p-node"},
		},
		{
			// A mirror that could not be reached is a failure the runtime falls through too.
			name:   "an unreachable mirror lets the source be asked",
			config: crioSets(digestMirror),
			image:  byDigest, node: map[string]string{mirHost: "p-node"},
			answers: map[string]registryauth.Verdict{
				mirRepo + " p-node": {Status: registryauth.ProbeUnavailable, Reason: "the registry could not be reached"},
				srcRepo + " ":       ok,
			},
			want:      "anonymous",
			endpoints: "mirror.corp:5000|registry.redhat.io/ubi9|node:node/config.json|unavailable, registry.redhat.io|||ok",
			asked:     []string{mirRepo + " p-node", srcRepo + " "},
		},
		{
			// CRI-O takes a kubelet credential without a username for none (server/image_pull.go)
			// and reads the nodes' auth file at every endpoint, the source's host included.
			name:   "CRI-O: a pod secret without a username is no credential; the auth file serves the same-host mirror",
			config: crioSets(idmsSet("same-host", srcHost+"/ubi9", "", srcHost+"/mirror/ubi9")),
			image:  byDigest, listed: []string{"pull"},
			secrets:   []ns{{name: "pull", raw: `{"auths":{"` + srcHost + `":{"auth":"` + base64.StdEncoding.EncodeToString([]byte(":p-token")) + `"}}}`}},
			node:      map[string]string{srcHost + "/mirror": "p-node"},
			answers:   map[string]registryauth.Verdict{sameRepo + " p-node": ok},
			want:      "node:" + nodeCand,
			wantMsg:   []string{`pulled through mirror registry.redhat.io (ImageDigestMirrorSet same-host) with the nodes' credentials (node/config.json)`},
			endpoints: "registry.redhat.io|registry.redhat.io/ubi9|node:node/config.json|ok",
			asked:     []string{sameRepo + " p-node"},
		},
		{
			name:   "CRI-O: with no kubelet credential the auth file is read at every endpoint, the source's host included",
			config: crioSets(idmsSet("same-host", srcHost+"/ubi9", "", srcHost+"/mirror/ubi9")),
			image:  byDigest, node: map[string]string{srcHost + "/mirror": "p-node"},
			answers:   map[string]registryauth.Verdict{sameRepo + " p-node": ok},
			want:      "node:" + nodeCand,
			endpoints: "registry.redhat.io|registry.redhat.io/ubi9|node:node/config.json|ok",
			asked:     []string{sameRepo + " p-node"},
		},
		{
			name:   "auth file: the most specific key is used",
			config: crioSets(digestMirror),
			image:  byDigest, listed: []string{"pull"}, secrets: []ns{podSecret}, node: map[string]string{mirRepo: "p-repo", mirHost: "p-host"},
			answers:   map[string]registryauth.Verdict{mirRepo + " p-repo": ok},
			want:      "node:" + nodeCand,
			endpoints: "mirror.corp:5000|registry.redhat.io/ubi9|node:node/config.json|ok",
			asked:     []string{mirRepo + " p-repo"},
		},
		{
			name:   "auth file: a refused most specific key is not retried with the host key",
			config: crioSets(digestMirror),
			image:  byDigest, listed: []string{"pull"}, secrets: []ns{podSecret}, node: map[string]string{mirRepo: "p-stale", mirHost: "p-host"},
			answers:   map[string]registryauth.Verdict{mirRepo + " p-stale": expired, srcRepo + " p-pod": noTag},
			want:      "rejected:pull",
			wantWarn:  []string{"renew the nodes' credentials for mirror.corp:5000: add them with 'oc set data secret/pull-secret -n openshift-config"},
			endpoints: "mirror.corp:5000|registry.redhat.io/ubi9|node:node/config.json|unauthorized, registry.redhat.io||pull|not-found",
			asked:     []string{mirRepo + " p-stale", srcRepo + " p-pod"},
		},
		{
			name:   "a mirror's 404 falls through to the source, which serves",
			config: crioSets(digestMirror),
			image:  byDigest, listed: []string{"pull"}, secrets: []ns{podSecret}, node: map[string]string{mirHost: "p-node"},
			answers:   map[string]registryauth.Verdict{mirRepo + " p-node": noTag, srcRepo + " p-pod": ok},
			want:      "covered:pull",
			wantMsg:   []string{"pulled from source registry.redhat.io; tried first in vain: mirror mirror.corp:5000 (ImageDigestMirrorSet ubi-mirror) has no digest"},
			endpoints: "mirror.corp:5000|registry.redhat.io/ubi9|node:node/config.json|not-found, registry.redhat.io||pull|ok",
			asked:     []string{mirRepo + " p-node", srcRepo + " p-pod"},
		},
		{
			name:   "the kubelet retries with the nodes' key for the source after a stale pod secret",
			config: crioSets(digestMirror),
			image:  byDigest, listed: []string{"pull"}, secrets: []ns{staleSecret}, node: map[string]string{srcHost: "p-node"},
			answers:   map[string]registryauth.Verdict{mirRepo + " ": expired, srcRepo + " p-stale": expired, srcRepo + " p-node": ok},
			want:      "node:" + nodeCand,
			endpoints: "mirror.corp:5000|registry.redhat.io/ubi9||unauthorized, registry.redhat.io||pull|unauthorized, registry.redhat.io||node:node/config.json|ok",
			asked:     []string{mirRepo + " ", srcRepo + " p-stale", srcRepo + " p-node"},
		},
		{
			name:   "no endpoint: a tag through digest-only mirrors with the source blocked is rejected, nothing asked or injected",
			config: crioSets(idmsSet("ubi-mirror", srcHost+"/ubi9", mirrors.NeverContactSource, mirHost+"/ubi9")),
			image:  byTag, secrets: []ns{podSecret}, node: map[string]string{mirHost: "p-node"},
			answers:   map[string]registryauth.Verdict{},
			want:      "rejected",
			wantMsg:   []string{`image "registry.redhat.io/ubi9/ubi:9.4": tag reference, but ImageDigestMirrorSet ubi-mirror only mirrors digests and blocks the source: use a digest or add an ImageTagMirrorSet`},
			endpoints: "mirror.corp:5000|registry.redhat.io/ubi9||skipped, registry.redhat.io|||blocked",
			asked:     []string{},
		},
		{
			name:   "CRI-O: no endpoint gets the kubelet's credential: no injection, the nodes' pull secret is the fix",
			config: crioSets(idmsSet("ubi-mirror", srcHost+"/ubi9", mirrors.NeverContactSource, mirHost+"/ubi9")),
			image:  byDigest, secrets: []ns{podSecret}, private: mirHost,
			want: "missing",
			wantMsg: []string{
				`pulled through mirror mirror.corp:5000 (ImageDigestMirrorSet ubi-mirror); CRI-O uses the nodes' credentials there, and openshift-config/pull-secret has none for mirror.corp:5000`,
				`add them with 'oc set data secret/pull-secret -n openshift-config --from-file=.dockerconfigjson=...'`,
				`pull secret "pull" of namespace "team-a" is not attached: CRI-O does not send the kubelet's credentials to mirror.corp:5000`,
			},
			endpoints: "mirror.corp:5000|registry.redhat.io/ubi9||, registry.redhat.io|||blocked",
		},
		{
			name:   "CRI-O: the fix names the global pull secret pullguard was given",
			config: crioSets(idmsSet("ubi-mirror", srcHost+"/ubi9", mirrors.NeverContactSource, mirHost+"/ubi9")),
			image:  byDigest, private: mirHost, nodeSecrets: []string{"cluster-config/global-pull"},
			want: "missing",
			wantMsg: []string{
				`CRI-O uses the nodes' credentials there, and cluster-config/global-pull has none for mirror.corp:5000`,
				`add them with 'oc set data secret/global-pull -n cluster-config --from-file=.dockerconfigjson=...'`,
			},
			noMsg:     []string{"openshift-config"},
			endpoints: "mirror.corp:5000|registry.redhat.io/ubi9||, registry.redhat.io|||blocked",
		},
		{
			name:   "CRI-O: no endpoint gets the kubelet's credential, verified: the mirror refuses anonymous requests",
			config: crioSets(idmsSet("ubi-mirror", srcHost+"/ubi9", mirrors.NeverContactSource, mirHost+"/ubi9")),
			image:  byDigest, secrets: []ns{podSecret},
			answers:   map[string]registryauth.Verdict{mirRepo + " ": expired},
			want:      "missing",
			wantMsg:   []string{"openshift-config/pull-secret has none for mirror.corp:5000 (mirror mirror.corp:5000 (ImageDigestMirrorSet ubi-mirror) answered HTTP 401 UNAUTHORIZED to an anonymous request"},
			endpoints: "mirror.corp:5000|registry.redhat.io/ubi9||unauthorized, registry.redhat.io|||blocked",
			asked:     []string{mirRepo + " "},
		},
		{
			name:   "CRI-O: the nodes' key for the mirror serves; a namespace secret is not attached and the message says why",
			config: crioSets(idmsSet("ubi-mirror", srcHost+"/ubi9", mirrors.NeverContactSource, mirHost+"/ubi9")),
			image:  byDigest, secrets: []ns{podSecret}, node: map[string]string{mirHost: "p-node"},
			want:      "node:" + nodeCand,
			wantMsg:   []string{`pull secret "pull" of namespace "team-a" is not attached`},
			endpoints: "mirror.corp:5000|registry.redhat.io/ubi9|node:node/config.json|, registry.redhat.io|||blocked",
		},
		{
			name:   "containerd: an injected secret travels to the mirror too",
			config: containerdHosts(t, srcHost, `server = "https://registry.redhat.io"`+"\n[host.\"https://mirror.corp:5000\"]\n  capabilities = [\"pull\", \"resolve\"]\n"),
			image:  byDigest, secrets: []ns{podSecret}, node: map[string]string{mirHost: "p-node"},
			answers:   map[string]registryauth.Verdict{mirRepo + " p-pod": ok},
			want:      "injected:pull",
			wantPatch: true,
			endpoints: "mirror.corp:5000|registry.redhat.io|pull|ok",
			asked:     []string{mirRepo + " p-pod"},
		},
		{
			name:   "containerd: the pod's secret is sent to every host, the nodes' auth file to none",
			config: containerdHosts(t, srcHost, `server = "https://registry.redhat.io"`+"\n[host.\"https://mirror.corp:5000\"]\n  capabilities = [\"pull\", \"resolve\"]\n"),
			image:  byDigest, listed: []string{"pull"}, secrets: []ns{staleSecret}, node: map[string]string{mirHost: "p-node"},
			answers:   map[string]registryauth.Verdict{mirRepo + " p-stale": expired, srcRepo + " p-stale": expired},
			want:      "rejected:pull",
			endpoints: "mirror.corp:5000|registry.redhat.io|pull|unauthorized, registry.redhat.io||pull|unauthorized",
			asked:     []string{mirRepo + " p-stale", srcRepo + " p-stale"},
		},
		{
			name:   "CRI-O: a pod secret keyed to the mirror host never travels, and the message says so",
			config: crioSets(digestMirror),
			image:  byDigest, listed: []string{"mirror-key"}, secrets: []ns{{name: "mirror-key", keys: []string{mirHost}, password: "p-mirror"}},
			answers:   map[string]registryauth.Verdict{mirRepo + " ": expired, srcRepo + " ": expired},
			want:      "missing",
			wantMsg:   []string{`pull secret "mirror-key" on the pod has credentials for mirror.corp:5000, but the kubelet matches pull secrets against registry.redhat.io/ubi9/ubi; CRI-O uses the nodes' credentials at mirror.corp:5000`},
			endpoints: "mirror.corp:5000|registry.redhat.io/ubi9||unauthorized, registry.redhat.io|||unauthorized",
			asked:     []string{mirRepo + " ", srcRepo + " "},
		},
		{
			name:   "CRI-O: a mirror on the source's IP and another port is another host",
			config: crioSets(idmsSet("port", "10.0.0.1:5000/ubi9", "", "10.0.0.1:5001/ubi9")),
			image:  "10.0.0.1:5000/ubi9/ubi@" + ubiDigest, listed: []string{"pull"}, secrets: []ns{{name: "pull", keys: []string{"10.0.0.1:5000"}, password: "p-pod"}},
			answers:   map[string]registryauth.Verdict{"10.0.0.1:5001/ubi9/ubi ": expired, "10.0.0.1:5000/ubi9/ubi p-pod": ok},
			want:      "covered:pull",
			endpoints: "10.0.0.1:5001|10.0.0.1:5000/ubi9||unauthorized, 10.0.0.1:5000||pull|ok",
			asked:     []string{"10.0.0.1:5001/ubi9/ubi ", "10.0.0.1:5000/ubi9/ubi p-pod"},
		},
		{
			name:   "injection with verification: the secret the source accepts, after the mirror refused",
			config: crioSets(digestMirror),
			image:  byDigest, secrets: []ns{podSecret},
			answers:   map[string]registryauth.Verdict{mirRepo + " ": expired, srcRepo + " p-pod": ok},
			want:      "injected:pull",
			wantPatch: true,
			endpoints: "mirror.corp:5000|registry.redhat.io/ubi9||unauthorized, registry.redhat.io||pull|ok",
			asked:     []string{mirRepo + " ", srcRepo + " p-pod"},
		},
		{
			name:   "injection with verification: nothing injected when the nodes' key serves at the mirror first",
			config: crioSets(digestMirror),
			image:  byDigest, secrets: []ns{podSecret}, node: map[string]string{mirHost: "p-node"},
			answers:   map[string]registryauth.Verdict{mirRepo + " p-node": ok},
			want:      "node:" + nodeCand,
			endpoints: "mirror.corp:5000|registry.redhat.io/ubi9|node:node/config.json|ok",
			asked:     []string{mirRepo + " p-node"},
		},
		{
			name:   "matching only: an anonymous mirror not known to be private is expected to serve",
			config: crioSets(digestMirror),
			image:  byDigest, listed: []string{"pull"}, secrets: []ns{podSecret},
			want:      "anonymous",
			wantMsg:   []string{"no credentials go to mirror mirror.corp:5000 (ImageDigestMirrorSet ubi-mirror); the runtime pulls it anonymously"},
			endpoints: "mirror.corp:5000|registry.redhat.io/ubi9||",
		},
		{
			name:   "matching only: a private mirror without a node key falls to the source and the pod's secret",
			config: crioSets(digestMirror),
			image:  byDigest, listed: []string{"pull"}, secrets: []ns{podSecret}, private: mirHost,
			want:      "covered:pull",
			endpoints: "mirror.corp:5000|registry.redhat.io/ubi9||, registry.redhat.io||pull|",
		},
		{
			name:   "a credential provider's token goes where the kubelet's does, unverified",
			config: crioSets(digestMirror),
			image:  byDigest, sources: []string{srcHost},
			answers:   map[string]registryauth.Verdict{mirRepo + " ": expired},
			want:      "node:node:credential-provider/ecr",
			endpoints: "mirror.corp:5000|registry.redhat.io/ubi9||unauthorized, registry.redhat.io||node:credential-provider/ecr|",
			asked:     []string{mirRepo + " "},
		},
		{
			name:   "CRI-O: a mirror location that makes the reference invalid fails the pull before any registry",
			config: crioSets(idmsSet("upper", srcHost+"/ubi9", "", mirHost+"/Upper")),
			image:  byDigest, listed: []string{"pull"}, secrets: []ns{podSecret},
			answers: map[string]registryauth.Verdict{},
			want:    "rejected:pull",
			wantMsg: []string{`CRI-O refuses the pull before contacting any registry: mirror mirror.corp:5000/Upper (ImageDigestMirrorSet upper) of registry.redhat.io/ubi9`, "; fix the mirror configuration"},
			asked:   []string{},
		},
		{
			name:   "registries.conf: a tag through a digest-only mirror with the source blocked; the fix names no mirror set",
			config: registriesConf(t, "[[registry]]\nlocation = \""+srcHost+"/ubi9\"\nblocked = true\n[[registry.mirror]]\nlocation = \""+mirHost+"/ubi9\"\npull-from-mirror = \"digest-only\"\n"),
			image:  byTag, listed: []string{"pull"}, secrets: []ns{podSecret},
			want:      "rejected:pull",
			wantMsg:   []string{`tag reference, but registries.conf only mirrors digests and blocks the source: use a digest or add a mirror that serves tags`},
			noMsg:     []string{"MirrorSet"},
			endpoints: "mirror.corp:5000|registry.redhat.io/ubi9||skipped, registry.redhat.io|||blocked",
		},
		{
			name:   "registries.conf: the source blocked, its mirror blocked by its own entry",
			config: registriesConf(t, "[[registry]]\nlocation = \""+srcHost+"/ubi9\"\nblocked = true\n[[registry.mirror]]\nlocation = \""+mirHost+"/ubi9\"\n[[registry]]\nlocation = \""+mirHost+"\"\nblocked = true\n"),
			image:  byDigest, listed: []string{"pull"}, secrets: []ns{podSecret},
			want:      "rejected:pull",
			wantMsg:   []string{`digest reference, but the runtime has nowhere to pull it from (mirror mirror.corp:5000 (registries.conf) its location is blocked under mirror.corp:5000 by registries.conf; the source is blocked by registries.conf)`},
			endpoints: "mirror.corp:5000|registry.redhat.io/ubi9||skipped, registry.redhat.io|||blocked",
		},
		{
			name:   "containerd: a server without resolve serves digests only, so a tag has nowhere to go",
			config: containerdHosts(t, srcHost, `server = "https://registry.redhat.io"`+"\ncapabilities = [\"pull\"]\n"),
			image:  byTag, listed: []string{"pull"}, secrets: []ns{podSecret},
			want:      "rejected:pull",
			wantMsg:   []string{`tag reference, but the runtime has nowhere to pull it from (the source serves digests only): use a digest or add a mirror that serves tags`},
			endpoints: "registry.redhat.io|||skipped",
		},
		{
			name:   "CRI-O outside OpenShift: the fix names the nodes' credential source pullguard knows",
			config: registriesConf(t, "[[registry]]\nlocation = \""+srcHost+"/ubi9\"\nblocked = true\n[[registry.mirror]]\nlocation = \""+mirHost+"/ubi9\"\n"),
			image:  byDigest, node: map[string]string{srcHost: "p-node"}, private: mirHost,
			want:      "missing:" + nodeCand,
			wantMsg:   []string{`CRI-O uses the nodes' credentials there, and node/config.json has none for mirror.corp:5000`, `add an entry for mirror.corp:5000 to node/config.json on every node`},
			noMsg:     []string{"oc set data", "openshift-config"},
			endpoints: "mirror.corp:5000|registry.redhat.io/ubi9||, registry.redhat.io|||blocked",
		},
		{
			name:   "CRI-O outside OpenShift, no nodes' credential source known: the fix names CRI-O's auth file",
			config: registriesConf(t, "[[registry]]\nlocation = \""+srcHost+"/ubi9\"\nblocked = true\n[[registry.mirror]]\nlocation = \""+mirHost+"/ubi9\"\n"),
			image:  byDigest, private: mirHost,
			want:      "missing",
			wantMsg:   []string{`CRI-O uses the nodes' credentials there, and the nodes' auth file has none for mirror.corp:5000`, `add an entry for mirror.corp:5000 to the auth file CRI-O reads on every node (global_auth_file)`},
			noMsg:     []string{"oc set data", "openshift-config"},
			endpoints: "mirror.corp:5000|registry.redhat.io/ubi9||, registry.redhat.io|||blocked",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { tc.run(t) })
	}
}

func registriesConf(t *testing.T, toml string) *mirrors.Config {
	t.Helper()
	sources, err := mirrors.ParseRegistriesConf([]byte(toml))
	if err != nil {
		t.Fatal(err)
	}
	return mirrors.New(mirrors.CRIO, sources)
}

func containerdHosts(t *testing.T, host, toml string) *mirrors.Config {
	t.Helper()
	s, err := mirrors.ParseHostsToml(host, []byte(toml))
	if err != nil {
		t.Fatal(err)
	}
	return mirrors.New(mirrors.Containerd, []mirrors.Source{s})
}

// TestMirrorsUnchangedWithoutConfig: with no mirror configuration, or one that does not
// apply, a decision is exactly what it was: same outcomes and messages, no endpoints.
func TestMirrorsUnchangedWithoutConfig(t *testing.T) {
	pod := verifyPod([]string{"pull"}, byDigest, "quay.io/acme/app:1", "nginx:1.27")
	secrets := index([]ns{podSecret, {name: "quay", keys: []string{"quay.io"}}})
	decide := func(c *mirrors.Config) *Decision {
		return Pod(pod, &Facts{Namespace: "team-a", Secrets: secrets, ServiceAccountApplied: true, Mirrors: c})
	}
	plain := decide(nil)
	for _, c := range []*mirrors.Config{{Runtime: mirrors.CRIO}, crioSets(idmsSet("other", "quay.io/other", "", mirHost+"/other"))} {
		d := decide(c)
		if !slices.Equal(summary(d), summary(plain)) || messages(d) != messages(plain) || patchJSON(t, d.Patch) != patchJSON(t, plain.Patch) {
			t.Errorf("decision changed:\n%s\nwas\n%s", messages(d), messages(plain))
		}
		out, err := json.Marshal(d.Images)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(out), "endpoints") {
			t.Errorf("unmirrored images have endpoints: %s", out)
		}
	}
}

// TestMirrorEndpointsJSON pins the JSON shape of SPEC section 6.
func TestMirrorEndpointsJSON(t *testing.T) {
	f := &Facts{Namespace: "team-a", Mirrors: crioSets(digestMirror), Node: nodeAuth(map[string]string{mirHost: "p-node"}), Verify: true}
	pod := verifyPod(nil, byDigest)
	d := Pod(pod, f)
	f.Verdicts = Verdicts{d.Probes[0].Key: ok}
	d = Pod(pod, f)
	out, err := json.Marshal(d.Images[0])
	if err != nil {
		t.Fatal(err)
	}
	want := `"endpoints":[{"host":"mirror.corp:5000","mirror_of":"registry.redhat.io/ubi9","credential":"node:node/config.json","result":"ok"}]`
	if !strings.Contains(string(out), want) {
		t.Errorf("JSON:\n%s\nwant it to contain\n%s", out, want)
	}
}

// TestMirroredRejectedNamesPodSecret: an image with no endpoint is rejected naming the
// secret the kubelet would send, the one injected for another image of the pod, not a
// namespace offer that is not on the pod (as an unmirrored image does).
func TestMirroredRejectedNamesPodSecret(t *testing.T) {
	f := &Facts{
		Namespace: "team-a", ServiceAccountApplied: true,
		Mirrors: crioSets(idmsSet("ubi-mirror", srcHost+"/ubi9", mirrors.NeverContactSource, mirHost+"/ubi9")),
		Secrets: index([]ns{{name: "a-ubi9", keys: []string{srcHost + "/ubi9"}}, {name: "b-host", keys: []string{srcHost}}}),
	}
	// The unmirrored image gets b-host, the only secret for it; the tag through digest-only
	// mirrors has no endpoint, and the kubelet would send it b-host first.
	d := Pod(verifyPod(nil, srcHost+"/other/app:1", byTag), f)
	if got, want := summary(d), []string{"injected:b-host", "rejected:b-host"}; !slices.Equal(got, want) {
		t.Errorf("outcome = %q, want %q\n%s", got, want, messages(d))
	}
	if got, want := d.Images[1].Candidates, []string{"a-ubi9", "b-host"}; !slices.Equal(got, want) {
		t.Errorf("candidates = %q, want %q", got, want)
	}
}
