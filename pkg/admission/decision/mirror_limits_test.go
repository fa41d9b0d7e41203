package decision

import (
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/pullguard/pullguard/pkg/registryauth"
	"github.com/pullguard/pullguard/pkg/registryauth/mirrors"
)

// hostilePod is what a tenant can create (issue 11's bar): n pull secrets keyed to one
// registry, each with its own password, and a pod that lists them all on c containers of
// one image.
func hostilePod(n, c int, image string) (*corev1.Pod, *registryauth.SecretIndex) {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "team-a"}}
	secrets := make([]ns, n)
	for i := range secrets {
		secrets[i] = ns{name: fmt.Sprintf("s%04d", i), keys: []string{srcHost}, password: fmt.Sprintf("p-%04d", i)}
		p.Spec.ImagePullSecrets = append(p.Spec.ImagePullSecrets, corev1.LocalObjectReference{Name: secrets[i].name})
	}
	for i := range c {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: fmt.Sprintf("c%02d", i), Image: image})
	}
	return p, index(secrets)
}

// decideRefusing decides pod as pkg/admission/verify does with every registry refusing every
// credential: rounds of decide, answer the probes, decide, at most maxRounds. It returns the
// final decision and the probes asked in all.
func decideRefusing(pod *corev1.Pod, f *Facts, maxRounds int) (*Decision, int) {
	f.Verify, f.Verdicts = true, nil
	d := Pod(pod, f)
	f.Verdicts = Verdicts{}
	asked := 0
	for round := 1; len(d.Probes) > 0 && round <= maxRounds; round++ {
		for _, req := range d.Probes {
			f.Verdicts[req.Key] = registryauth.Verdict{Status: registryauth.ProbeUnauthorized, HTTPStatus: 401}
		}
		asked += len(d.Probes)
		d = Pod(pod, f)
	}
	return d, asked
}

// TestMirroredWorkBounded: a pod listing hundreds of secrets for a registry mirrored to four
// endpoints costs what 32 of them cost (maxMirroredOffers), as chooseMirrored already
// bounded the namespace's offers: the kubelet calls past the bound are not followed, the
// image is undecided when the ones followed are all refused, and the JSON endpoints and the
// message stay bounded. Before, every credential was walked through every endpoint (a
// quadratic deduplication, 4 endpoints a credential in the JSON, a description of each
// refusal in the message): with 1,000 secrets and 50 containers, 250,000 endpoint rows and
// 37 MB of messages a review.
func TestMirroredWorkBounded(t *testing.T) {
	// Three mirrors on the source's host and the source: the kubelet's credential goes to
	// all four, under CRI-O as under containerd.
	config := crioSets(idmsSet("ubi-mirror", srcHost+"/ubi9", "",
		srcHost+"/m1/ubi9", srcHost+"/m2/ubi9", srcHost+"/m3/ubi9"))
	const containers = 10
	lengths := map[int]int{} // secrets -> bytes of the first image's message
	for _, n := range []int{maxMirroredOffers + 1, 300, 1200} {
		pod, secrets := hostilePod(n, containers, byDigest)
		f := &Facts{Namespace: "team-a", Secrets: secrets, ServiceAccountApplied: true, Mirrors: config}

		// Matching only: the kubelet's first credential, through the first mirror.
		d := Pod(pod, f)
		for _, id := range d.Images {
			if id.Outcome != Covered || id.Secret != "s0000" || len(id.Endpoints) != 1 {
				t.Fatalf("%d secrets, unverified: %s %s, %d endpoints, want covered by s0000 at the first mirror", n, id.Outcome, id.Secret, len(id.Endpoints))
			}
		}

		// Verified, every credential refused everywhere: as many probes as 32 secrets
		// allow, whatever n, and an undecided image that says why.
		d, asked := decideRefusing(pod, f, 8)
		if limit := maxMirroredOffers * 4; asked > limit {
			t.Errorf("%d secrets: %d probes asked, want at most %d (32 credentials at 4 endpoints)", n, asked, limit)
		}
		for _, id := range d.Images {
			if id.Outcome != Indeterminate || !strings.Contains(id.Message, reasonTooMany) {
				t.Fatalf("%d secrets: %s, want indeterminate (%s):\n%s", n, id.Outcome, reasonTooMany, id.Message)
			}
			if len(id.Endpoints) > maxEndpointsListed {
				t.Errorf("%d secrets: %d endpoints listed, want at most %d", n, len(id.Endpoints), maxEndpointsListed)
			}
			if len(id.Message) > 4096 {
				t.Errorf("%d secrets: message of %d bytes, want at most 4 KiB", n, len(id.Message))
			}
			if strings.Count(id.Message, "refused") > maxAnswersListed {
				t.Errorf("%d secrets: the message describes %d refusals, want at most %d:\n%s", n, strings.Count(id.Message, "refused"), maxAnswersListed, id.Message)
			}
		}
		if len(d.Images) != containers {
			t.Fatalf("%d images, want %d", len(d.Images), containers)
		}
		lengths[n] = len(d.Images[0].Message)
		if n == 300 {
			t.Logf("%d secrets, %d probes: %s", n, asked, d.Images[0].Message)
		}
	}
	// Bounded means about the same message however many secrets past the bound (only the
	// counts in it grow, by a digit).
	if lengths[1200]-lengths[maxMirroredOffers+1] > 8 {
		t.Errorf("the message grows with the secrets: %v bytes by secrets", lengths)
	}
}

// TestMirroredAttemptsDeduplicated: attempts that ask an endpoint the same thing are listed
// once (under CRI-O every call reaches a mirror on another host with the same auth file
// credential), in first-seen order, however many calls.
func TestMirroredAttemptsDeduplicated(t *testing.T) {
	f := &Facts{Mirrors: crioSets(digestMirror), Node: nodeAuth(map[string]string{mirHost: "p-node"})}
	img, err := registryauth.ParseImage(byDigest)
	if err != nil {
		t.Fatal(err)
	}
	route := f.routeOf(img)
	if route == nil || len(route.Endpoints) != 2 {
		t.Fatalf("route %+v, want the mirror and the source", route)
	}
	calls := make([]option, maxMirroredOffers)
	creds := make([]registryauth.Credential, len(calls))
	for i := range calls {
		creds[i] = registryauth.NewCredential("u", fmt.Sprintf("p-%d", i%3)) // three distinct
		calls[i] = option{name: fmt.Sprintf("s%d", i), cred: &creds[i]}
	}
	var got []string
	for _, a := range f.attempts(route, calls) {
		got = append(got, a.at.Image.Registry+" "+a.name)
	}
	want := []string{mirHost + " " + nodeCand, srcHost + " s0", srcHost + " s1", srcHost + " s2"}
	if strings.Join(got, ", ") != strings.Join(want, ", ") {
		t.Errorf("attempts %q\nwant     %q", got, want)
	}

	a, b := tried{option: option{at: &route.Endpoints[0], cred: &creds[0]}}, tried{option: option{at: &route.Endpoints[0], cred: &creds[3]}}
	c := tried{option: option{at: &route.Endpoints[1], cred: &creds[0]}}
	if got := mergeTried([]tried{a}, []tried{b, c, c}); len(got) != 2 {
		t.Errorf("mergeTried kept %d, want 2 (the same endpoint and credential once)", len(got))
	}
}

// TestRefusalsListedBounded: an unmirrored image's message describes at most
// maxAnswersListed refusals, then how many more, however many secrets the pod lists.
func TestRefusalsListedBounded(t *testing.T) {
	pod, secrets := hostilePod(300, 2, byTag)
	f := &Facts{Namespace: "team-a", Secrets: secrets, ServiceAccountApplied: true}
	d, _ := decideRefusing(pod, f, 8)
	for _, id := range d.Images {
		if n := strings.Count(id.Message, "registry refused"); n == 0 || n > maxAnswersListed || !strings.Contains(id.Message, " more") {
			t.Errorf("%s: %d refusals described, want 1 to %d and how many more:\n%s", id.Outcome, n, maxAnswersListed, id.Message)
		}
	}
}

// TestUnmirroredImageRoutesFree: with mirror sets loaded, an image none of them matches
// costs no allocation to route (the webhook routes every image of every pod); one a
// registries.conf entry matches without changing where it is pulled from (insecure only) is
// no mirrored image.
func TestUnmirroredImageRoutesFree(t *testing.T) {
	var sets []mirrors.MirrorSet
	for i := range 50 {
		sets = append(sets, idmsSet(fmt.Sprintf("set-%d", i), fmt.Sprintf("registry-%d.example.com/team", i), "", mirHost+fmt.Sprintf("/copy-%d", i)))
	}
	f := &Facts{Mirrors: crioSets(sets...)}
	img, err := registryauth.ParseImage("quay.io/acme/app:1")
	if err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() { f.routeOf(img) }); n != 0 {
		t.Errorf("routing an image no mirror set matches allocates %v times", n)
	}

	insecure, err := mirrors.ParseRegistriesConf([]byte("[[registry]]\nlocation = \"quay.io\"\ninsecure = true\n"))
	if err != nil {
		t.Fatal(err)
	}
	f.Mirrors = mirrors.New(mirrors.CRIO, insecure)
	if r := f.routeOf(img); r != nil {
		t.Errorf("an insecure-only entry routes %s through %+v, want no mirroring", img.Ref, r.Endpoints)
	}
}
