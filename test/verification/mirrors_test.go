package verification

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"

	"github.com/pullguard/pullguard/pkg/admission/check"
	"github.com/pullguard/pullguard/test/harness"
)

// The mirror test's loopback addresses: no other test of the package listens on them. The
// source and one mirror share an address on different ports (another host to every
// runtime); the other mirror has an address of its own.
const (
	mirrorSourceIP = "127.0.0.21"
	mirrorOtherIP  = "127.0.0.22"
)

// One htpasswd user per registry, so that a credential works at exactly one of them. Fake.
var (
	sourceCred      = cred{"source-bot", "not-a-real-password-source"}
	mirrorCred      = cred{"mirror-bot", "not-a-real-password-mirror"}
	portCred        = cred{"port-bot", "not-a-real-password-port"}
	staleSourceCred = cred{sourceCred[0], stalePassword}
	staleMirrorCred = cred{mirrorCred[0], stalePassword}
)

type cred = [2]string

func credString(c cred) string { return c[0] + ":" + c[1] }

// mirrorRegistries are the source registry S and its mirrors: M on another address, P on
// S's address and another port.
type mirrorRegistries struct {
	source, mirror, port *harness.Registry
	caFile, certDir      string
	image                v1.Image
	digest               string
}

func startMirrorRegistries(t *testing.T) *mirrorRegistries {
	t.Helper()
	dir := t.TempDir()
	tls, certDir, err := harness.NewTLSFor(dir, "127.0.0.1", mirrorSourceIP, mirrorOtherIP)
	if err != nil {
		t.Fatal(err)
	}
	env := &mirrorRegistries{caFile: tls.CAFile, certDir: certDir}
	for _, r := range []struct {
		into *(*harness.Registry)
		ip   string
		cred cred
	}{{&env.source, mirrorSourceIP, sourceCred}, {&env.mirror, mirrorOtherIP, mirrorCred}, {&env.port, mirrorSourceIP, portCred}} {
		reg, err := harness.StartRegistryOn(r.ip, filepath.Join(dir, r.cred[0]), tls, harness.RegistryAuth{Users: map[string]string{r.cred[0]: r.cred[1]}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(reg.Stop)
		*r.into = reg
	}
	if env.source.Host == env.port.Host {
		t.Fatalf("source and port mirror both on %s", env.source.Host)
	}
	// One image everywhere: a digest reference names the same manifest at every endpoint.
	if env.image, err = random.Image(512, 1); err != nil {
		t.Fatal(err)
	}
	d, err := env.image.Digest()
	if err != nil {
		t.Fatal(err)
	}
	env.digest = d.String()
	return env
}

// push puts the image at repository (host/path) with tag 1.0.
func (env *mirrorRegistries) push(t *testing.T, repository string) {
	t.Helper()
	for _, r := range []struct {
		reg  *harness.Registry
		cred cred
	}{{env.source, sourceCred}, {env.mirror, mirrorCred}, {env.port, portCred}} {
		if path, ok := strings.CutPrefix(repository, r.reg.Host+"/"); ok {
			if _, err := r.reg.PushImage(context.Background(), env.image, path+":1.0", r.cred[0], r.cred[1]); err != nil {
				t.Fatal(err)
			}
			return
		}
	}
	t.Fatalf("no test registry serves %s", repository)
}

// keyed is a pull secret's key and credential.
type keyed struct {
	key  string
	cred cred
}

// mirrorCase is one pull on a CRI-O node. Ground truth is skopeo (containers/image, as
// CRI-O) with the registries.conf OpenShift writes for sets, the node's auth file, and
// each credential the kubelet would send.
type mirrorCase struct {
	name string
	sets []harness.MirrorSet
	// registriesConf: pullguard reads the registries.conf (--registries-conf) instead of
	// the mirror set objects.
	registriesConf bool
	// present are the repositories (host/path) that hold the image.
	present []string
	// node is the nodes' auth file: CRI-O's global auth file and, on OpenShift, the
	// kubelet's config.json.
	node harness.AuthFile
	// pod is the pod's pull secret (nil: none).
	pod *keyed
	// kubelet are the credentials the kubelet sends, in the order it tries them (each is
	// a whole pull through every endpoint): the pod secret's when its key matches the
	// image by the kubelet's rules, then the node file's that match. None: one pull
	// without a credential.
	kubelet []cred
	// image is the reference; digest references end in "@" (the test adds the digest).
	image string
	// want is what the facts predict; why is the fact.
	want bool
	why  string
	// route is what skopeo does, per credential the kubelet tries (" | " between them):
	// each endpoint it tries, in order, with its answer (served, 401, 404, blocked). S, M
	// and P stand for the registries' hosts; tags and digests are left out.
	route string
}

func mirrorCases(env *mirrorRegistries) []mirrorCase {
	S, M, P := env.source.Host, env.mirror.Host, env.port.Host
	idms := func(name, source string, never bool, mirrors ...string) harness.MirrorSet {
		return harness.MirrorSet{Kind: harness.ImageDigestMirrorSet, Name: name, Source: source, Mirrors: mirrors, NeverContactSource: never}
	}
	itms := func(name, source string, mirrors ...string) harness.MirrorSet {
		return harness.MirrorSet{Kind: harness.ImageTagMirrorSet, Name: name, Source: source, Mirrors: mirrors}
	}
	icsp := func(name, source string, mirrors ...string) harness.MirrorSet {
		return harness.MirrorSet{Kind: harness.ImageContentSourcePolicy, Name: name, Source: source, Mirrors: mirrors}
	}
	sourceSecret := &keyed{S, sourceCred}
	return []mirrorCase{{
		name: "idms-digest-mirror-on-another-ip-node-host-key",
		sets: []harness.MirrorSet{idms("c1", S+"/c1", false, M+"/mirror/c1")}, present: []string{M + "/mirror/c1/app"},
		node: harness.AuthFile{M: mirrorCred}, pod: sourceSecret, kubelet: []cred{sourceCred},
		image: S + "/c1/app@", want: true,
		route: "M/mirror/c1/app served",
		why:   "a digest goes to the digest mirror first; CRI-O uses the node's key for the mirror's host there",
	}, {
		name: "idms-digest-pod-secret-keyed-to-mirror-never-used", registriesConf: true,
		sets: []harness.MirrorSet{idms("c2", S+"/c2", false, M+"/mirror/c2")}, present: []string{M + "/mirror/c2/app"},
		node: harness.AuthFile{}, pod: &keyed{M, mirrorCred}, kubelet: nil,
		image: S + "/c2/app@", want: false,
		route: "M/mirror/c2/app 401, S/c2/app 401",
		why:   "the kubelet matches pod secrets against the image's source, so a secret keyed to the mirror host never travels; the node file has no key for the mirror",
	}, {
		name: "idms-tag-skips-digest-only-mirror",
		sets: []harness.MirrorSet{idms("c3", S+"/c3", false, M+"/mirror/c3")}, present: []string{M + "/mirror/c3/app"},
		node: harness.AuthFile{M: mirrorCred}, pod: sourceSecret, kubelet: []cred{sourceCred},
		image: S + "/c3/app:1.0", want: false,
		route: "S/c3/app 404",
		why:   "pull-from-mirror = digest-only: a tag goes to the source only, which lacks it",
	}, {
		name: "idms-never-contact-source-tag-always-fails",
		sets: []harness.MirrorSet{idms("c4", S+"/c4", true, M+"/mirror/c4")}, present: []string{S + "/c4/app", M + "/mirror/c4/app"},
		node: harness.AuthFile{M: mirrorCred}, pod: sourceSecret, kubelet: []cred{sourceCred},
		image: S + "/c4/app:1.0", want: false,
		route: "S/c4/app blocked",
		why:   "a tag skips the digest-only mirror and the source is blocked: no endpoint is left",
	}, {
		name: "idms-never-contact-source-digest-mirror-serves", registriesConf: true,
		sets: []harness.MirrorSet{idms("c5", S+"/c5", true, M+"/mirror/c5")}, present: []string{S + "/c5/app", M + "/mirror/c5/app"},
		node: harness.AuthFile{M: mirrorCred}, pod: sourceSecret, kubelet: []cred{sourceCred},
		image: S + "/c5/app@", want: true,
		route: "M/mirror/c5/app served",
		why:   "NeverContactSource blocks only the source; the digest mirror serves with the node's key",
	}, {
		name: "idms-never-contact-source-mirror-refuses",
		sets: []harness.MirrorSet{idms("c6", S+"/c6", true, M+"/mirror/c6")}, present: []string{S + "/c6/app", M + "/mirror/c6/app"},
		node: harness.AuthFile{}, pod: sourceSecret, kubelet: []cred{sourceCred},
		image: S + "/c6/app@", want: false,
		route: "M/mirror/c6/app 401, S/c6/app blocked",
		why:   "the mirror refuses (no node key for it) and the source, which would serve, is blocked",
	}, {
		name: "itms-tag-goes-to-tag-only-mirror",
		sets: []harness.MirrorSet{itms("c7", S+"/c7", M+"/mirror/c7")}, present: []string{M + "/mirror/c7/app"},
		node: harness.AuthFile{M: mirrorCred}, pod: sourceSecret, kubelet: []cred{sourceCred},
		image: S + "/c7/app:1.0", want: true,
		route: "M/mirror/c7/app served",
		why:   "pull-from-mirror = tag-only: a tag goes to the mirror, with the node's key",
	}, {
		name: "itms-digest-skips-tag-only-mirror",
		sets: []harness.MirrorSet{itms("c8", S+"/c8", M+"/mirror/c8")}, present: []string{M + "/mirror/c8/app"},
		node: harness.AuthFile{M: mirrorCred}, pod: sourceSecret, kubelet: []cred{sourceCred},
		image: S + "/c8/app@", want: false,
		route: "S/c8/app 404",
		why:   "a digest skips the tag-only mirror; the source lacks the image",
	}, {
		name: "icsp-digest-node-namespace-key",
		sets: []harness.MirrorSet{icsp("c9", S+"/c9", M+"/mirror/c9")}, present: []string{M + "/mirror/c9/app"},
		node: harness.AuthFile{M + "/mirror": mirrorCred}, pod: nil, kubelet: nil,
		image: S + "/c9/app@", want: true,
		route: "M/mirror/c9/app served",
		why:   "ImageContentSourcePolicy mirrors digests; the node key M/mirror matches M/mirror/c9/app by whole segments",
	}, {
		name: "icsp-tag-skips-mirror",
		sets: []harness.MirrorSet{icsp("c10", S+"/c10", M+"/mirror/c10")}, present: []string{M + "/mirror/c10/app"},
		node: harness.AuthFile{M: mirrorCred}, pod: sourceSecret, kubelet: []cred{sourceCred},
		image: S + "/c10/app:1.0", want: false,
		route: "S/c10/app 404",
		why:   "ImageContentSourcePolicy is digest-only: a tag goes to the source, which lacks it",
	}, {
		name: "same-ip-other-port-drops-kubelet-credential",
		sets: []harness.MirrorSet{idms("c11", S+"/c11", false, P+"/mirror/c11")}, present: []string{P + "/mirror/c11/app"},
		node: harness.AuthFile{}, pod: &keyed{S, portCred}, kubelet: []cred{portCred},
		image: S + "/c11/app@", want: false,
		route: "P/mirror/c11/app 401, S/c11/app 401",
		why:   "host is host:port: the mirror on the source's address and another port is another host, so the kubelet's credential (valid there) is not sent",
	}, {
		name: "same-ip-other-port-node-key-for-that-port", registriesConf: true,
		sets: []harness.MirrorSet{idms("c12", S+"/c12", false, P+"/mirror/c12")}, present: []string{P + "/mirror/c12/app"},
		node: harness.AuthFile{P: portCred}, pod: sourceSecret, kubelet: []cred{sourceCred},
		image: S + "/c12/app@", want: true,
		route: "P/mirror/c12/app served",
		why:   "at another host CRI-O reads the node's auth file: its key for that host:port serves",
	}, {
		name: "node-host-key-without-port-does-not-match",
		sets: []harness.MirrorSet{idms("c13", S+"/c13", false, M+"/mirror/c13")}, present: []string{M + "/mirror/c13/app"},
		node: harness.AuthFile{mirrorOtherIP: mirrorCred}, pod: sourceSecret, kubelet: []cred{sourceCred},
		image: S + "/c13/app@", want: false,
		route: "M/mirror/c13/app 401, S/c13/app 404",
		why:   "an auth-file key without the port is another host",
	}, {
		name: "same-host-mirror-gets-kubelet-credential",
		sets: []harness.MirrorSet{idms("c14", S+"/c14", false, S+"/mirror/c14")}, present: []string{S + "/mirror/c14/app"},
		node: harness.AuthFile{}, pod: sourceSecret, kubelet: []cred{sourceCred},
		image: S + "/c14/app@", want: true,
		route: "S/mirror/c14/app served",
		why:   "a mirror on the source's host:port gets the kubelet's credential",
	}, {
		name: "stale-pod-secret-at-same-host-mirror-blocks-good-node-key",
		sets: []harness.MirrorSet{idms("c15", S+"/c15", false, S+"/mirror/c15")}, present: []string{S + "/mirror/c15/app"},
		node: harness.AuthFile{S + "/mirror": sourceCred}, pod: &keyed{S, staleSourceCred}, kubelet: []cred{staleSourceCred},
		image: S + "/c15/app@", want: false,
		route: "S/mirror/c15/app 401, S/c15/app 401",
		why:   "where the kubelet's credential is sent it wins over the auth file; the node key S/mirror does not match S/c15/app by the kubelet's rules, so it never travels",
	}, {
		name: "no-pod-secret-node-key-serves-same-host-mirror", registriesConf: true,
		sets: []harness.MirrorSet{idms("c16", S+"/c16", false, S+"/mirror/c16")}, present: []string{S + "/mirror/c16/app"},
		node: harness.AuthFile{S + "/mirror": sourceCred}, pod: nil, kubelet: nil,
		image: S + "/c16/app@", want: true,
		route: "S/mirror/c16/app served",
		why:   "with no kubelet credential CRI-O reads the auth file at every endpoint",
	}, {
		name: "stale-pod-secret-kubelet-retries-with-node-source-key",
		sets: []harness.MirrorSet{idms("c17", S+"/c17", false, M+"/mirror/c17")}, present: []string{S + "/c17/app"},
		node: harness.AuthFile{S: sourceCred}, pod: &keyed{S, staleSourceCred}, kubelet: []cred{staleSourceCred, sourceCred},
		image: S + "/c17/app@", want: true,
		route: "M/mirror/c17/app 401, S/c17/app 401 | M/mirror/c17/app 401, S/c17/app served",
		why:   "the node key for the source matches by the kubelet's rules: the kubelet tries it after the pod's stale one, and the source serves",
	}, {
		name: "node-repository-key-beats-host-key",
		sets: []harness.MirrorSet{idms("c18", S+"/c18", false, M+"/mirror/c18")}, present: []string{M + "/mirror/c18/app"},
		node: harness.AuthFile{M + "/mirror/c18/app": mirrorCred, M: staleMirrorCred}, pod: sourceSecret, kubelet: []cred{sourceCred},
		image: S + "/c18/app@", want: true,
		route: "M/mirror/c18/app served",
		why:   "the most specific auth-file key (the repository) is used",
	}, {
		name: "node-most-specific-key-only-no-retry",
		sets: []harness.MirrorSet{idms("c19", S+"/c19", false, M+"/mirror/c19")}, present: []string{M + "/mirror/c19/app"},
		node: harness.AuthFile{M + "/mirror/c19/app": staleMirrorCred, M: mirrorCred}, pod: sourceSecret, kubelet: []cred{sourceCred},
		image: S + "/c19/app@", want: false,
		route: "M/mirror/c19/app 401, S/c19/app 404",
		why:   "only the most specific key is used: a stale repository key is not retried with the good host key",
	}, {
		name: "node-partial-segment-key-does-not-match",
		sets: []harness.MirrorSet{idms("c20", S+"/c20", false, M+"/mirror/c20")}, present: []string{M + "/mirror/c20/app"},
		node: harness.AuthFile{M + "/mirr": mirrorCred}, pod: sourceSecret, kubelet: []cred{sourceCred},
		image: S + "/c20/app@", want: false,
		route: "M/mirror/c20/app 401, S/c20/app 404",
		why:   "auth-file keys match whole path segments: M/mirr is not a parent of M/mirror/c20/app",
	}, {
		name: "node-scheme-key-falls-back-to-bare-host",
		sets: []harness.MirrorSet{idms("c21", S+"/c21", false, M+"/mirror/c21")}, present: []string{M + "/mirror/c21/app"},
		node: harness.AuthFile{"https://" + M + "/anything": mirrorCred}, pod: sourceSecret, kubelet: []cred{sourceCred},
		image: S + "/c21/app@", want: true,
		route: "M/mirror/c21/app served",
		why:   "a key written with a scheme is normalized to its bare host",
	}, {
		name: "mirror-404-falls-through-to-source",
		sets: []harness.MirrorSet{idms("c22", S+"/c22", false, M+"/mirror/c22")}, present: []string{S + "/c22/app"},
		node: harness.AuthFile{M: mirrorCred}, pod: sourceSecret, kubelet: []cred{sourceCred},
		image: S + "/c22/app@", want: true,
		route: "M/mirror/c22/app 404, S/c22/app served",
		why:   "the mirror answers 404; the next endpoint, the source, serves with the kubelet's credential",
	}, {
		name: "mirror-401-falls-through-to-source",
		sets: []harness.MirrorSet{idms("c23", S+"/c23", false, M+"/mirror/c23")}, present: []string{S + "/c23/app", M + "/mirror/c23/app"},
		node: harness.AuthFile{}, pod: sourceSecret, kubelet: []cred{sourceCred},
		image: S + "/c23/app@", want: true,
		route: "M/mirror/c23/app 401, S/c23/app served",
		why:   "the mirror refuses (401); the source serves",
	}, {
		name:    "most-specific-source-wins-parent-mirrors-not-merged",
		sets:    []harness.MirrorSet{idms("c24-parent", S+"/c24", false, M+"/mirror/c24"), idms("c24-app", S+"/c24/app", false, P+"/mirror/c24/app")},
		present: []string{M + "/mirror/c24/app"},
		node:    harness.AuthFile{M: mirrorCred, P: portCred}, pod: sourceSecret, kubelet: []cred{sourceCred},
		image: S + "/c24/app@", want: false,
		route: "P/mirror/c24/app 404, S/c24/app 404",
		why:   "the entry for S/c24/app wins and its mirrors are not merged with S/c24's, whose mirror has the image",
	}, {
		name: "idms-and-itms-for-one-source-tag-goes-to-tag-mirror", registriesConf: true,
		sets:    []harness.MirrorSet{idms("c25", S+"/c25", false, M+"/mirror/c25"), itms("c25", S+"/c25", P+"/mirror/c25")},
		present: []string{P + "/mirror/c25/app"},
		node:    harness.AuthFile{M: mirrorCred, P: portCred}, pod: sourceSecret, kubelet: []cred{sourceCred},
		image: S + "/c25/app:1.0", want: true,
		route: "P/mirror/c25/app served",
		why:   "one registries.conf entry holds both sets' mirrors; a tag skips the digest mirror and the tag mirror serves",
	}, {
		name:    "idms-and-itms-for-one-source-digest-skips-tag-mirror",
		sets:    []harness.MirrorSet{idms("c26", S+"/c26", false, M+"/mirror/c26"), itms("c26", S+"/c26", P+"/mirror/c26")},
		present: []string{P + "/mirror/c26/app"},
		node:    harness.AuthFile{M: mirrorCred, P: portCred}, pod: sourceSecret, kubelet: []cred{sourceCred},
		image: S + "/c26/app@", want: false,
		route: "M/mirror/c26/app 404, S/c26/app 404",
		why:   "a digest goes to the digest mirror (404) and the source (404), never the tag mirror",
	}}
}

// TestMirrorGroundTruth checks pullguard's CRI-O mirror rules against containers/image:
// for each case, skopeo fetches the manifest as CRI-O would; the case's written
// expectation (the issue's facts) must match skopeo ("facts"), and `check --verify
// --runtime crio` must admit exactly the pulls skopeo completes ("pullguard").
// -run 'TestMirrorGroundTruth/.*/facts' checks the facts alone.
func TestMirrorGroundTruth(t *testing.T) {
	env := startMirrorRegistries(t)
	cases := mirrorCases(env)
	for _, c := range cases {
		for _, repo := range c.present {
			env.push(t, repo)
		}
	}
	agreed, compared := 0, 0
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			image := c.image
			if strings.HasSuffix(image, "@") {
				image += env.digest
			}
			conf, node := filepath.Join(dir, "registries.conf"), filepath.Join(dir, "config.json")
			if err := os.WriteFile(conf, harness.RegistriesConf(c.sets), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(node, c.node.JSON(), 0o600); err != nil {
				t.Fatal(err)
			}
			route, contacted, ok := skopeoPulls(t, env, image, conf, node, c.kubelet)
			t.Run("facts", func(t *testing.T) {
				if ok != c.want {
					t.Errorf("skopeo contradicts the facts: pull works = %v, the facts predict %v (%s)\nskopeo: %s", ok, c.want, c.why, route)
				}
				if route != c.route {
					t.Errorf("skopeo's route:\n  %s\nwant\n  %s\n(%s)", route, c.route, c.why)
				}
			})
			t.Run("pullguard", func(t *testing.T) {
				compared++
				admitted, endpoints, detail := pullguardAdmits(t, env, c, image, conf, node)
				if admitted != ok {
					t.Errorf("pullguard admitted = %v, skopeo pull works = %v (the facts predict %v: %s)\npullguard: %s\nskopeo: %s", admitted, ok, c.want, c.why, detail, route)
				}
				// The endpoints pullguard says the runtime contacts, in order, are those
				// skopeo contacted, as far as both go (skopeo stops at the first that
				// serves); none when skopeo contacted none (a blocked source).
				if n := min(len(endpoints), len(contacted)); (len(endpoints) == 0) != (len(contacted) == 0) || !slices.Equal(endpoints[:n], contacted[:n]) {
					t.Errorf("pullguard's endpoints %q, skopeo contacted %q\npullguard: %s\nskopeo: %s", endpoints, contacted, detail, route)
				}
				if !t.Failed() {
					agreed++
				}
			})
		})
	}
	msg := fmt.Sprintf("mirror ground truth: %d of %d cases agree (skopeo vs pullguard)", agreed, compared)
	t.Log(msg)
	fmt.Fprintln(os.Stderr, msg)
}

// skopeoPulls runs one skopeo fetch per credential the kubelet tries (one without a
// credential when it has none): the pull works when any does. It returns the route in the
// cases' notation, and the registry hosts the first pull contacted (not the blocked ones).
func skopeoPulls(t *testing.T, env *mirrorRegistries, image, conf, node string, kubelet []cred) (route string, contacted []string, ok bool) {
	t.Helper()
	creds := []string{""}
	if len(kubelet) > 0 {
		creds = nil
		for _, c := range kubelet {
			creds = append(creds, credString(c))
		}
	}
	short := strings.NewReplacer(env.source.Host+"/", "S/", env.mirror.Host+"/", "M/", env.port.Host+"/", "P/")
	var runs []string
	for _, creds := range creds {
		res, err := harness.Skopeo(context.Background(), harness.SkopeoPull{Ref: image, RegistriesConf: conf, AuthFile: node, Creds: creds, CertDir: env.certDir})
		if err != nil {
			t.Fatal(err)
		}
		var steps []string
		for _, ref := range res.Tried {
			answer := "served"
			if e, failed := res.Failed[ref]; failed {
				answer = skopeoAnswer(e)
			}
			repo, _, _ := strings.Cut(ref, "@")
			if i := strings.LastIndex(repo, ":"); i > strings.LastIndex(repo, "/") {
				repo = repo[:i]
			}
			steps = append(steps, short.Replace(repo)+" "+answer)
			if len(runs) == 0 && answer != "blocked" {
				host, _, _ := strings.Cut(ref, "/")
				contacted = append(contacted, host)
			}
		}
		if len(res.Tried) == 0 {
			steps = append(steps, "no endpoint: "+lastLine(res.Output))
		}
		runs = append(runs, strings.Join(steps, ", "))
		ok = ok || res.OK
	}
	return strings.Join(runs, " | "), contacted, ok
}

// skopeoAnswer is the gist of containers/image's error for one endpoint.
func skopeoAnswer(e string) string {
	switch {
	case strings.Contains(e, "unauthorized"):
		return "401"
	case strings.Contains(e, "manifest unknown"):
		return "404"
	case strings.Contains(e, "is blocked in"):
		return "blocked"
	}
	return e
}

// pullguardAdmits runs `webhook check --verify --runtime crio` on the case's pod, its
// pull secret and mirror sets (or --registries-conf) with the node's auth file, and
// reports whether the pod is admitted, the registry hosts of the endpoints it reports the
// runtime contacting (not those it reports blocked or skipped), in order, and the image's
// outcome and endpoints for messages.
func pullguardAdmits(t *testing.T, env *mirrorRegistries, c mirrorCase, image, conf, node string) (admitted bool, contacted []string, detail string) {
	t.Helper()
	var manifest strings.Builder
	secrets := ""
	if c.pod != nil {
		fmt.Fprintf(&manifest, "apiVersion: v1\nkind: Secret\nmetadata: {name: pull, namespace: mirrors}\ntype: kubernetes.io/dockerconfigjson\nstringData:\n  .dockerconfigjson: '%s'\n---\n",
			harness.AuthFile{c.pod.key: c.pod.cred}.JSON())
		secrets = "\n  imagePullSecrets: [{name: pull}]"
	}
	fmt.Fprintf(&manifest, "apiVersion: v1\nkind: Pod\nmetadata: {name: %s, namespace: mirrors}\nspec:%s\n  containers: [{name: app, image: %q}]\n---\n", c.name, secrets, image)
	o := check.Options{
		Files: []string{"-"}, Output: "json", Runtime: "crio",
		Verify: true, VerifyTimeout: 5 * time.Second, RegistryCAFiles: []string{env.caFile},
		VerifyDenyNetworks:  []netip.Prefix{}, // the test registries are on loopback
		NodeCredentialFiles: []string{node},
	}
	if c.registriesConf {
		o.RegistriesConf = conf
	} else {
		for _, s := range c.sets {
			manifest.WriteString(s.YAML())
		}
	}
	var stdout, stderr bytes.Buffer
	code := check.Run(context.Background(), o, strings.NewReader(manifest.String()), &stdout, &stderr)
	for _, c := range []cred{sourceCred, mirrorCred, portCred, staleSourceCred} {
		if strings.Contains(stdout.String()+stderr.String(), c[1]) {
			t.Fatal("check printed a test password")
		}
	}
	if code != check.ExitOK && code != check.ExitDenied {
		t.Fatalf("check exit %d\n%s%s", code, stdout.String(), stderr.String())
	}
	var report struct {
		Objects []checkedObject `json:"objects"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &report); err != nil {
		t.Fatalf("check -o json: %v\n%s", err, stdout.String())
	}
	i := slices.IndexFunc(report.Objects, func(o checkedObject) bool { return o.Kind == "Pod" })
	if i < 0 || len(report.Objects[i].Images) != 1 {
		t.Fatalf("check reported no pod with one image\n%s", stdout.String())
	}
	img := report.Objects[i].Images[0]
	var b strings.Builder
	fmt.Fprintf(&b, "exit %d, outcome %s: %s", code, img.Outcome, img.Message)
	for _, e := range img.Endpoints {
		fmt.Fprintf(&b, "\n  endpoint %s (mirror of %q) credential %s: %s", e.Host, e.MirrorOf, e.Credential, e.Result)
		if !strings.Contains(e.Result, "block") && !strings.Contains(e.Result, "skip") {
			host, _, _ := strings.Cut(e.Host, "/")
			contacted = append(contacted, host)
		}
	}
	if img.Outcome == "indeterminate" {
		t.Errorf("pullguard could not decide a pull skopeo decides: %s", b.String())
	}
	return code == check.ExitOK, contacted, b.String()
}

// checkedObject is the part of check's JSON report the test reads.
type checkedObject struct {
	Kind   string `json:"kind"`
	Images []struct {
		Outcome   string `json:"outcome"`
		Message   string `json:"message"`
		Endpoints []struct {
			Host       string `json:"host"`
			MirrorOf   string `json:"mirror_of"`
			Credential string `json:"credential"`
			Result     string `json:"result"`
		} `json:"endpoints"`
	} `json:"images"`
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
