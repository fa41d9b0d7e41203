package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"

	"github.com/pullguard/pullguard/pkg/admission/check"
	"github.com/pullguard/pullguard/pkg/admission/decision"
	"github.com/pullguard/pullguard/pkg/admission/server"
	"github.com/pullguard/pullguard/pkg/admission/state"
	"github.com/pullguard/pullguard/pkg/registryauth"
	"github.com/pullguard/pullguard/pkg/registryauth/mirrors"
	"github.com/pullguard/pullguard/test/harness"
)

// mirrorDeadline bounds how long a change to a mirror set may take to reach decisions: a
// watch event, then one rebuild.
const mirrorDeadline = 30 * time.Second

// ubiDigest is the image the mirror tests decide: by digest, so digest mirrors apply.
const ubiDigest = "registry.redhat.io/ubi9/ubi@sha256:2222222222222222222222222222222222222222222222222222222222222222"

// mirrorSetYAML is an ImageDigestMirrorSet sending registry.redhat.io/ubi9 to mirror,
// with the source blocked.
func mirrorSetYAML(name, mirror string) string {
	return fmt.Sprintf(`apiVersion: config.openshift.io/v1
kind: ImageDigestMirrorSet
metadata: {name: %s}
spec:
  imageDigestMirrors:
  - source: registry.redhat.io/ubi9
    mirrors: [%s/ubi9]
    mirrorSourcePolicy: NeverContactSource
`, name, mirror)
}

// applyMirrorSet creates or updates a mirror set (YAML) in the cluster of dyn, and deletes
// it when the test ends.
func applyMirrorSet(t *testing.T, dyn dynamic.Interface, doc string) {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
		t.Fatal(err)
	}
	kind := kindOf(t, u)
	res := dyn.Resource(kind.GroupVersionResource())
	ctx := context.Background()
	old, err := res.Get(ctx, u.GetName(), metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		if _, err := res.Create(ctx, u, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		name := u.GetName()
		t.Cleanup(func() {
			if err := res.Delete(context.Background(), name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
				t.Errorf("deleting %s %s: %v", kind.Kind, name, err)
			}
		})
	case err != nil:
		t.Fatal(err)
	default:
		u.SetResourceVersion(old.GetResourceVersion())
		if _, err := res.Update(ctx, u, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
}

func deleteMirrorSet(t *testing.T, dyn dynamic.Interface, doc string) {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
		t.Fatal(err)
	}
	if err := dyn.Resource(kindOf(t, u).GroupVersionResource()).Delete(context.Background(), u.GetName(), metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
}

func kindOf(t *testing.T, u *unstructured.Unstructured) state.MirrorSetKind {
	t.Helper()
	for _, k := range state.MirrorSetKinds {
		if k.GroupVersionKind == u.GroupVersionKind() {
			return k
		}
	}
	t.Fatalf("%s is not a mirror set kind", u.GroupVersionKind())
	return state.MirrorSetKind{}
}

// sourceOf returns the configuration's entry for prefix.
func sourceOf(c *mirrors.Config, prefix string) (mirrors.Source, bool) {
	if c == nil {
		return mirrors.Source{}, false
	}
	for _, s := range c.Sources {
		if s.Prefix == prefix {
			return s, true
		}
	}
	return mirrors.Source{}, false
}

// describe says what a configuration holds for prefix, for failures.
func describe(c *mirrors.Config, prefix string) string {
	s, ok := sourceOf(c, prefix)
	if !ok {
		return "no entry for " + prefix
	}
	var ms []string
	for _, m := range s.Mirrors {
		ms = append(ms, m.Location+" ("+m.Origin+")")
	}
	return fmt.Sprintf("%s: mirrors %v, blocked %v by %q", prefix, ms, s.Blocked, s.BlockedBy)
}

// waitForFacts polls the facts a review of ns gets until ok holds of their mirrors.
func waitForFacts(t *testing.T, st *state.State, ns, what string, ok func(*mirrors.Config) bool) {
	t.Helper()
	deadline := time.Now().Add(mirrorDeadline)
	for {
		c := st.Facts(ns).Mirrors
		if ok(c) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("within %s, a review's facts never had %s; they have %s", mirrorDeadline, what, describe(c, "registry.redhat.io/ubi9"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// logCollector keeps what a logger wrote, for tests to wait on.
type logCollector struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logCollector) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logCollector) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestMirrorSetsReachTheFacts: with CRI-O, the mirror sets the API server serves are
// watched, and a review's facts follow each one created, changed or deleted while pullguard
// runs, except sets the machine-config operator would refuse: then the facts keep the last
// configuration, as the nodes keep their registries.conf. With containerd they are not
// watched.
func TestMirrorSetsReachTheFacts(t *testing.T) {
	dyn, err := dynamic.NewForConfig(cluster.Config)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logs := &logCollector{}
	start := func(rt mirrors.Runtime) *state.State {
		st, err := state.New(cluster.Client, state.Options{Mirrors: state.NodeMirrorFiles{Runtime: rt}, RESTConfig: cluster.Config,
			Log: slog.New(slog.NewTextHandler(logs, nil))})
		if err != nil {
			t.Fatal(err)
		}
		st.Start(ctx)
		syncCtx, done := context.WithTimeout(ctx, time.Minute)
		defer done()
		if !st.WaitForSync(syncCtx) {
			t.Fatal("the state never synced: readiness waits for the mirror set caches")
		}
		return st
	}
	crio, containerd := start(mirrors.CRIO), start(mirrors.Containerd)
	const ns = "mirrors" // facts are the same in every namespace
	if _, ok := sourceOf(crio.Facts(ns).Mirrors, "registry.redhat.io/ubi9"); ok {
		t.Fatalf("before any mirror set: %s", describe(crio.Facts(ns).Mirrors, "registry.redhat.io/ubi9"))
	}

	created := mirrorSetYAML("ubi-mirror", "mirror.private.test:5000")
	applyMirrorSet(t, dyn, created)
	waitForFacts(t, crio, ns, "the created ImageDigestMirrorSet", func(c *mirrors.Config) bool {
		s, ok := sourceOf(c, "registry.redhat.io/ubi9")
		return ok && c.Runtime == mirrors.CRIO && s.Blocked && s.BlockedBy == "ImageDigestMirrorSet ubi-mirror" &&
			len(s.Mirrors) == 1 && s.Mirrors[0].Location == "mirror.private.test:5000/ubi9" && s.Mirrors[0].PullFrom == mirrors.DigestOnly
	})

	applyMirrorSet(t, dyn, mirrorSetYAML("ubi-mirror", "other.private.test:5000"))
	waitForFacts(t, crio, ns, "the changed mirror", func(c *mirrors.Config) bool {
		s, ok := sourceOf(c, "registry.redhat.io/ubi9")
		return ok && len(s.Mirrors) == 1 && s.Mirrors[0].Location == "other.private.test:5000/ubi9"
	})

	// The other two kinds: tags, and the legacy digest kind (which never blocks).
	applyMirrorSet(t, dyn, `apiVersion: config.openshift.io/v1
kind: ImageTagMirrorSet
metadata: {name: ubi-tags}
spec:
  imageTagMirrors:
  - {source: registry.redhat.io/ubi8, mirrors: [tags.private.test/ubi8]}
`)
	applyMirrorSet(t, dyn, `apiVersion: operator.openshift.io/v1alpha1
kind: ImageContentSourcePolicy
metadata: {name: legacy}
spec:
  repositoryDigestMirrors:
  - {source: quay.io/legacy, mirrors: [legacy.private.test/legacy]}
`)
	waitForFacts(t, crio, ns, "the ImageTagMirrorSet and the ImageContentSourcePolicy", func(c *mirrors.Config) bool {
		s, ok := sourceOf(c, "registry.redhat.io/ubi8")
		legacy, okLegacy := sourceOf(c, "quay.io/legacy")
		return ok && len(s.Mirrors) == 1 && s.Mirrors[0].Location == "tags.private.test/ubi8" && s.Mirrors[0].PullFrom == mirrors.TagOnly &&
			s.Mirrors[0].Origin == "ImageTagMirrorSet ubi-tags" &&
			okLegacy && !legacy.Blocked && len(legacy.Mirrors) == 1 && legacy.Mirrors[0].PullFrom == mirrors.DigestOnly &&
			legacy.Mirrors[0].Origin == "ImageContentSourcePolicy legacy"
	})

	// A set asking another mirrorSourcePolicy for ubi-mirror's source: the machine-config
	// operator refuses the sets as a whole, and the facts keep the configuration they had.
	before := crio.Facts(ns).Mirrors
	conflicting := `apiVersion: config.openshift.io/v1
kind: ImageDigestMirrorSet
metadata: {name: ubi-conflict}
spec:
  imageDigestMirrors:
  - source: registry.redhat.io/ubi9
    mirrors: [conflict.private.test:5000/ubi9]
    mirrorSourcePolicy: AllowContactingSource
`
	applyMirrorSet(t, dyn, conflicting)
	deadline := time.Now().Add(mirrorDeadline)
	for !strings.Contains(logs.String(), "refuses these mirror sets") || !strings.Contains(logs.String(), "ImageDigestMirrorSet ubi-conflict") {
		if time.Now().After(deadline) {
			t.Fatalf("within %s, the refusal of ubi-conflict was never logged; logs:\n%s", mirrorDeadline, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if c := crio.Facts(ns).Mirrors; !reflect.DeepEqual(c.Sources, before.Sources) {
		t.Fatalf("after a refused set, the facts changed: %s, want the last configuration: %s",
			describe(c, "registry.redhat.io/ubi9"), describe(before, "registry.redhat.io/ubi9"))
	}
	deleteMirrorSet(t, dyn, conflicting)

	deleteMirrorSet(t, dyn, created)
	waitForFacts(t, crio, ns, "the deletion of ubi-mirror", func(c *mirrors.Config) bool {
		_, ubi9 := sourceOf(c, "registry.redhat.io/ubi9")
		_, ubi8 := sourceOf(c, "registry.redhat.io/ubi8")
		return !ubi9 && ubi8
	})

	if c := containerd.Facts(ns).Mirrors; c == nil || c.Runtime != mirrors.Containerd || len(c.Sources) != 0 {
		t.Errorf("containerd does not follow mirror sets: %+v", c)
	}
}

// TestMirrorSetChangesTheNextDecision: pullguard serving with --runtime=crio decides an
// image pulled from its source; an ImageDigestMirrorSet created while it runs sends the
// image to a mirror on another host, where CRI-O uses the nodes' credentials, not the
// pod's: the next decision denies it, naming the mirror and its set; the nodes' pull secret
// gaining the mirror admits it; deleting the set brings the first decision back.
func TestMirrorSetChangesTheNextDecision(t *testing.T) {
	c, err := harness.StartCluster()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Stop() })
	private, err := registryauth.ParsePatterns("registry.redhat.io,*.private.test:5000")
	if err != nil {
		t.Fatal(err)
	}
	wh, err := c.StartWebhook(context.Background(), server.Options{
		Defaults:              decision.Policy{Mode: decision.Enforce, FailurePolicy: decision.FailOpen},
		PrivateRegistries:     private,
		ExcludeNamespaces:     server.DefaultExclude,
		NodeCredentialSecrets: []string{"node-config/pull-secret"},
		Mirrors:               state.NodeMirrorFiles{Runtime: mirrors.CRIO},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { wh.Stop() })
	dyn, err := dynamic.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	ns := c.Namespace(t, "disconnected", nil)
	c.CreatePullSecret(t, ns, "redhat", "registry.redhat.io", testUser, testPassword)
	manifest := podYAML(ns, "ubi", nil, "app="+ubiDigest)

	// apply decides the pod once: admitted with the secrets it gets, or denied with why.
	apply := func() (secrets string, denial string) {
		stdout, stderr, err := c.Kubectl(context.Background(), manifest, "apply", "--dry-run=server", "-o", "jsonpath={.spec.imagePullSecrets[*].name}", "-f", "-")
		if strings.Contains(stdout+stderr, testPassword) {
			t.Fatal("kubectl output shows a credential")
		}
		if err != nil {
			return "", stderr
		}
		return stdout, ""
	}
	waitFor := func(what string, ok func(secrets, denial string) bool) string {
		t.Helper()
		deadline := time.Now().Add(mirrorDeadline)
		for {
			secrets, denial := apply()
			if ok(secrets, denial) {
				return denial
			}
			if time.Now().After(deadline) {
				t.Fatalf("within %s: %s; last decision: secrets %q, denial %q", mirrorDeadline, what, secrets, denial)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	if secrets, denial := apply(); secrets != "redhat" || denial != "" {
		t.Fatalf("before any mirror set: secrets %q, denial %q; want the namespace's secret injected", secrets, denial)
	}

	set := mirrorSetYAML("ubi-mirror", "mirror.private.test:5000")
	applyMirrorSet(t, dyn, set)
	denial := waitFor("the mirror set changes the decision to a denial", func(_, denial string) bool { return denial != "" })
	assertContains(t, denial, `container "app"`, "mirror.private.test:5000", "ImageDigestMirrorSet ubi-mirror")
	t.Logf("with the mirror set: %s", denial)

	c.Namespace(t, "node-config", nil)
	c.CreatePullSecret(t, "node-config", "pull-secret", "mirror.private.test:5000", testUser, testPassword)
	waitFor("the nodes' credential for the mirror admits the pod", func(_, denial string) bool { return denial == "" })

	// check --cluster decides as serve does, given the runtime.
	var stdout, stderr bytes.Buffer
	code := check.Run(context.Background(), check.Options{
		Files: []string{"-"}, Cluster: true, Kubeconfig: c.Kubeconfig, Output: "json", Runtime: "crio",
		PrivateRegistries: private, NodeCredentialSecrets: []string{"node-config/pull-secret"},
	}, strings.NewReader(manifest), &stdout, &stderr)
	if code != check.ExitOK || !strings.Contains(stdout.String(), "mirror.private.test:5000") {
		t.Errorf("check --cluster --runtime=crio: exit %d, want 0 and the mirror named:\n%s%s", code, stdout.String(), stderr.String())
	}
	var report struct {
		Objects []struct {
			Images []struct{ Outcome string } `json:"images"`
		} `json:"objects"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &report); err != nil || len(report.Objects) != 1 || len(report.Objects[0].Images) != 1 || report.Objects[0].Images[0].Outcome != "node" {
		t.Errorf("check --cluster: %v %+v, want the image covered by the nodes' credential (node)", err, report)
	}

	deleteMirrorSet(t, dyn, set)
	waitFor("deleting the set brings the source back", func(secrets, denial string) bool { return secrets == "redhat" && denial == "" })
}

// TestCheckReadsTheClusterMirrorSets: check --cluster lists the mirror sets the cluster
// serves; with containerd it says they are not used.
func TestCheckReadsTheClusterMirrorSets(t *testing.T) {
	dyn, err := dynamic.NewForConfig(cluster.Config)
	if err != nil {
		t.Fatal(err)
	}
	ns := namespace(t, "check-mirrors", nil)
	applyMirrorSet(t, dyn, mirrorSetYAML("check-mirror", "mirror.private.test:5000"))
	code, _, stderr := runCheck(t, podYAML(ns, "web", nil, "app="+ubiDigest), check.Options{})
	if code == check.ExitUsage || !strings.Contains(stderr, "note: 1 mirror sets (ImageDigestMirrorSet/check-mirror ...) are not used") {
		t.Errorf("exit %d, stderr %q: want the cluster's mirror set read, and said not used with containerd", code, stderr)
	}
}
