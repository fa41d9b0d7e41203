package integration

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestInjectsTheMatchingSecret(t *testing.T) {
	ns := namespace(t, "inject", nil)
	pullSecret(t, ns, "acme", "registry.private.test")
	pullSecret(t, ns, "other", "ghcr.private.test")
	stdout, stderr := kubectl(t, podYAML(ns, "web", nil, "app=registry.private.test/acme/app:1"), false, "apply", "-f", "-")
	assertContains(t, stdout, "pod/web created")
	if stderr != "" {
		t.Errorf("apply printed %q; pullguard must be invisible when all is well", stderr)
	}
	assertSecrets(t, pod(t, ns, "web"), "acme")
	// The injection is recorded on the pod, for oc describe pod: beside kubectl apply's
	// own annotation, and on a pod created with no annotations at all.
	kubectl(t, podYAML(ns, "bare", nil, "app=registry.private.test/acme/app:1", "gh=ghcr.private.test/acme/gh:1"), false, "create", "-f", "-")
	for name, want := range map[string]string{"web": "acme", "bare": "acme,other"} {
		if got := pod(t, ns, name).Annotations["pullguard.io/injected"]; got != want {
			t.Errorf("pod %s: annotation pullguard.io/injected=%q, want %q", name, got, want)
		}
	}
}

func TestKubeletOrderDecidesBetweenTwoSecrets(t *testing.T) {
	ns := namespace(t, "order", nil)
	pullSecret(t, ns, "a-whole-registry", "registry.private.test")
	pullSecret(t, ns, "z-acme-only", "registry.private.test/acme")
	kubectl(t, podYAML(ns, "web", nil, "app=registry.private.test/acme/app:1"), false, "apply", "-f", "-")
	// The kubelet tries the more specific key first, whatever the names.
	assertSecrets(t, pod(t, ns, "web"), "z-acme-only")
}

func TestDeniesAPrivateImageWithoutASecret(t *testing.T) {
	ns := namespace(t, "deny", nil)
	_, stderr := kubectl(t, podYAML(ns, "web", nil, "app=registry.private.test/acme/app:1", "web=nginx:1.27"), true, "apply", "-f", "-")
	assertContains(t, stderr,
		`admission webhook "mutate.pullguard.io" denied the request`,
		`container "app" image "registry.private.test/acme/app:1": no pull secret in namespace "deny" has credentials for registry.private.test; `+
			`create one with 'oc create secret docker-registry <name> --docker-server=registry.private.test --docker-username=... --docker-password=... -n deny' and pullguard will attach it`)
	if strings.Contains(stderr, `container "web"`) {
		t.Errorf("the public image must not be in the denial:\n%s", stderr)
	}
	if _, err := cluster.Client.CoreV1().Pods(ns).Get(context.Background(), "web", metav1.GetOptions{}); err == nil {
		t.Fatal("the denied pod exists")
	}
}

func TestWarnModeAdmitsWithAWarning(t *testing.T) {
	ns := namespace(t, "warn", map[string]string{"pullguard.io/mode": "warn"})
	_, stderr := kubectl(t, podYAML(ns, "web", nil, "app=registry.private.test/acme/app:1", "side=registry.private.test/acme/side:1"), false, "apply", "-f", "-")
	// One warning for both images of the registry, fix first, whole under the API server's
	// 256-character cut.
	const want = `Warning: pullguard: create a pull secret for registry.private.test: oc create secret docker-registry <name> --docker-server=registry.private.test --docker-username=... --docker-password=... -n warn (containers "app", "side")`
	assertContains(t, stderr, want)
	if n := strings.Count(stderr, "Warning: "); n != 1 {
		t.Errorf("want one warning, got %d:\n%s", n, stderr)
	}
	assertSecrets(t, pod(t, ns, "web"))
}

func TestInvalidLabelFallsBackWithAWarning(t *testing.T) {
	ns := namespace(t, "typo", map[string]string{"pullguard.io/mode": "warning"})
	_, stderr := kubectl(t, podYAML(ns, "web", nil, "app=registry.private.test/acme/app:1"), true, "apply", "-f", "-")
	assertContains(t, stderr, `Warning: pullguard: namespace label pullguard.io/mode="warning" is not enforce, warn or off; using "enforce"`, "denied the request")
}

func TestOffModeAndPublicImagesAreUntouched(t *testing.T) {
	off := namespace(t, "mode-off", map[string]string{"pullguard.io/mode": "off"})
	kubectl(t, podYAML(off, "web", nil, "app=registry.private.test/acme/app:1"), false, "apply", "-f", "-")
	assertSecrets(t, pod(t, off, "web"))

	public := namespace(t, "public", nil)
	pullSecret(t, public, "acme", "registry.private.test")
	_, stderr := kubectl(t, podYAML(public, "web", nil, "web=nginx:1.27", "tools=quay.io/prometheus/busybox:latest"), false, "apply", "-f", "-")
	if stderr != "" {
		t.Errorf("unexpected output: %s", stderr)
	}
	assertSecrets(t, pod(t, public, "web"))
}

func TestServiceAccountSecretCoversWithoutDuplicate(t *testing.T) {
	ns := namespace(t, "sa", nil, "sa-acme")
	pullSecret(t, ns, "sa-acme", "registry.private.test")
	pullSecret(t, ns, "b-acme", "registry.private.test")
	kubectl(t, podYAML(ns, "web", nil, "app=registry.private.test/acme/app:1"), false, "apply", "-f", "-")
	// The ServiceAccount plugin copied the account's secret; pullguard added nothing.
	assertSecrets(t, pod(t, ns, "web"), "sa-acme")
}

func TestSecondRegistryInjectedBesideThePodsOwn(t *testing.T) {
	ns := namespace(t, "second", nil, "sa-ghcr")
	pullSecret(t, ns, "own-acme", "registry.private.test")
	pullSecret(t, ns, "sa-ghcr", "ghcr.private.test")
	// Listing its own secret, the pod loses the account's: pullguard adds it back for ghcr.
	kubectl(t, podYAML(ns, "web", []string{"own-acme"}, "app=registry.private.test/acme/app:1", "side=ghcr.private.test/acme/side:2"), false, "apply", "-f", "-")
	assertSecrets(t, pod(t, ns, "web"), "own-acme", "sa-ghcr")
}

func TestReapplyIsANoOp(t *testing.T) {
	ns := namespace(t, "reapply", nil)
	pullSecret(t, ns, "acme", "registry.private.test")
	manifest := podYAML(ns, "web", nil, "app=registry.private.test/acme/app:1")
	kubectl(t, manifest, false, "apply", "-f", "-")
	before := pod(t, ns, "web").ResourceVersion
	stdout, stderr := kubectl(t, manifest, false, "apply", "-f", "-")
	assertContains(t, stdout, "pod/web unchanged")
	if stderr != "" {
		t.Errorf("re-apply printed %q", stderr)
	}

	ssa := podYAML(ns, "ssa", nil, "app=registry.private.test/acme/app:1")
	kubectl(t, ssa, false, "apply", "--server-side", "-f", "-")
	ssaBefore := pod(t, ns, "ssa").ResourceVersion
	stdout, _ = kubectl(t, ssa, false, "apply", "--server-side", "-f", "-")
	assertContains(t, stdout, "pod/ssa serverside-applied")

	p := pod(t, ns, "web")
	assertSecrets(t, p, "acme")
	assertSecrets(t, pod(t, ns, "ssa"), "acme")
	if p.ResourceVersion != before || pod(t, ns, "ssa").ResourceVersion != ssaBefore {
		t.Error("re-apply changed a pod")
	}
}

func TestDryRunServerShowsTheDenial(t *testing.T) {
	ns := namespace(t, "dryrun", nil)
	_, stderr := kubectl(t, podYAML(ns, "web", nil, "app=registry.private.test/acme/app:1"), true, "apply", "--dry-run=server", "-f", "-")
	assertContains(t, stderr, "denied the request", `no pull secret in namespace "dryrun" has credentials for registry.private.test`)

	pullSecret(t, ns, "acme", "registry.private.test")
	stdout, _ := kubectl(t, podYAML(ns, "web", nil, "app=registry.private.test/acme/app:1"), false, "apply", "--dry-run=server", "-o", "jsonpath={.spec.imagePullSecrets[*].name}", "-f", "-")
	if strings.TrimSpace(stdout) != "acme" {
		t.Errorf("dry run shows imagePullSecrets %q, want acme", stdout)
	}
}

func TestMalformedSecretOnAPodIsDeniedByName(t *testing.T) {
	ns := namespace(t, "malformed", nil)
	bad := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "broken", Namespace: ns},
		Type:       corev1.SecretTypeDockerConfigJson,
		Data:       map[string][]byte{corev1.DockerConfigJsonKey: []byte(`{"auths":{"registry.private.test":{"auth":"not base64!"}}}`)},
	}
	if _, err := cluster.Client.CoreV1().Secrets(ns).Create(context.Background(), bad, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	_, stderr := kubectl(t, podYAML(ns, "web", []string{"broken"}, "app=nginx"), true, "apply", "-f", "-")
	assertContains(t, stderr, `pull secret "broken": "auth" is not base64 of "username:password"`, "the kubelet fails every pull of this pod")
}

func TestBuildConfig(t *testing.T) {
	ns := namespace(t, "builds", nil)
	pullSecret(t, ns, "builder-image", "registry.private.test")
	if err := cluster.EnsureServiceAccount(context.Background(), ns, "builder"); err != nil {
		t.Fatal(err)
	}
	manifest := fmt.Sprintf(`apiVersion: build.openshift.io/v1
kind: BuildConfig
metadata: {name: api, namespace: %s}
spec:
  source: {git: {uri: "https://example.invalid/acme/api.git"}}
  strategy:
    type: Source
    sourceStrategy:
      from: {kind: DockerImage, name: "registry.private.test/ubi9/go-toolset:1.22"}
  output:
    to: {kind: ImageStreamTag, name: "api:latest"}
`, ns)
	kubectl(t, manifest, false, "apply", "-f", "-")
	got, _ := kubectl(t, "", false, "get", "buildconfig", "api", "-n", ns, "-o", "jsonpath={.spec.strategy.sourceStrategy.pullSecret.name}")
	if got != "builder-image" {
		t.Fatalf("pullSecret = %q, want builder-image", got)
	}
	stdout, stderr := kubectl(t, manifest, false, "apply", "-f", "-")
	assertContains(t, stdout, "buildconfig.build.openshift.io/api unchanged")
	if stderr != "" {
		t.Errorf("re-apply printed %q", stderr)
	}

	push := strings.Replace(manifest, `{kind: ImageStreamTag, name: "api:latest"}`, `{kind: DockerImage, name: "quay.private.test/acme/api:latest"}`, 1)
	push = strings.Replace(push, "name: api,", "name: api-push,", 1)
	_, stderr = kubectl(t, push, true, "apply", "-f", "-")
	assertContains(t, stderr, `spec.output.to image "quay.private.test/acme/api:latest": no pull secret in namespace "builds" has credentials for quay.private.test`, "pullguard will set spec.output.pushSecret")
}

func TestWorkloadsGetWarnings(t *testing.T) {
	ns := namespace(t, "workloads", nil)
	manifest := fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: %s}
spec:
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
      containers:
      - {name: api, image: "registry.private.test/acme/api:2"}
`, ns)
	stdout, stderr := kubectl(t, manifest, false, "apply", "-f", "-")
	assertContains(t, stdout, "deployment.apps/api created")
	assertContains(t, stderr, `Warning: pullguard: create a pull secret for registry.private.test: oc create secret docker-registry <name> --docker-server=registry.private.test`, `-n workloads (container "api")`)
	dep, err := cluster.Client.AppsV1().Deployments(ns).Get(context.Background(), "api", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(dep.Spec.Template.Spec.ImagePullSecrets) != 0 {
		t.Error("a workload's template must never be mutated")
	}
}

func TestConcurrentPodCreations(t *testing.T) {
	ns := namespace(t, "concurrent", nil)
	pullSecret(t, ns, "acme", "registry.private.test")
	pullSecret(t, ns, "ghcr", "ghcr.private.test")
	const n = 40
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			image := "registry.private.test/acme/app:1"
			if i%2 == 1 {
				image = "ghcr.private.test/acme/app:1"
			}
			p := &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("p%02d", i)},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: image}}},
			}
			if _, err := cluster.Client.CoreV1().Pods(ns).Create(context.Background(), p, metav1.CreateOptions{}); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for i := range n {
		want := "acme"
		if i%2 == 1 {
			want = "ghcr"
		}
		assertSecrets(t, pod(t, ns, fmt.Sprintf("p%02d", i)), want)
	}
}

// TestWebhookDown runs last in this file's order of concerns: with pullguard stopped, the
// API server fails closed or open per namespace, as the two webhook entries say.
func TestWebhookDown(t *testing.T) {
	closed := namespace(t, "down-closed", map[string]string{"pullguard.io/failure-policy": "closed"})
	open := namespace(t, "down-open", nil)
	if err := webhook.Stop(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := webhook.Start(context.Background()); err != nil {
			t.Fatalf("restarting the webhook: %v", err)
		}
	}()
	_, stderr := kubectl(t, podYAML(closed, "web", nil, "app=nginx"), true, "apply", "-f", "-")
	assertContains(t, stderr, `failed calling webhook "closed.mutate.pullguard.io"`)
	kubectl(t, podYAML(open, "web", nil, "app=registry.private.test/acme/app:1"), false, "apply", "-f", "-")
	assertSecrets(t, pod(t, open, "web"))
}

// TestExcludedNamespacesAreUntouched: --exclude-namespaces globs (openshift-* by default)
// are left alone even where the webhook configuration sends their requests.
func TestExcludedNamespacesAreUntouched(t *testing.T) {
	ns := namespace(t, "openshift-pullguard-test", nil)
	_, stderr := kubectl(t, podYAML(ns, "web", nil, "app=registry.private.test/acme/app:1"), false, "apply", "-f", "-")
	if stderr != "" {
		t.Errorf("an excluded namespace got %q", stderr)
	}
	assertSecrets(t, pod(t, ns, "web"))
}

// TestNodeCredentialsSecretIsWatched: a --node-credentials secret created while pullguard
// runs starts covering its registry, with nothing injected.
func TestNodeCredentialsSecretIsWatched(t *testing.T) {
	ns := namespace(t, "node-creds", nil)
	manifest := podYAML(ns, "web", nil, "app=node.private.test/acme/app:1")
	_, stderr := kubectl(t, manifest, true, "apply", "--dry-run=server", "-f", "-")
	assertContains(t, stderr, `no pull secret in namespace "node-creds" has credentials for node.private.test`)

	namespace(t, "node-config", nil)
	pullSecret(t, "node-config", "pull-secret", "node.private.test")
	deadline := time.Now().Add(30 * time.Second)
	for {
		stdout, stderr, err := cluster.Kubectl(context.Background(), manifest, "apply", "--dry-run=server", "-o", "jsonpath={.spec.imagePullSecrets}", "-f", "-")
		if err == nil {
			if stdout != "" || stderr != "" {
				t.Fatalf("node credentials must admit untouched, got %q %q", stdout, stderr)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the node credentials secret was not picked up: %s", stderr)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
