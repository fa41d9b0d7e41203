package integration

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/pullguard/pullguard/pkg/admission/check"
	"github.com/pullguard/pullguard/pkg/admission/decision"
	"github.com/pullguard/pullguard/pkg/registryauth"
	"github.com/pullguard/pullguard/test/harness"
)

// internalRegistries are the suite webhook's --internal-registries: the image registry's
// service names, as the OpenShift overlay sets them.
const internalRegistries = "image-registry.openshift-image-registry.svc:5000,image-registry.openshift-image-registry.svc.cluster.local:5000"

const internalHost = "image-registry.openshift-image-registry.svc:5000"

// webhookTimeout is deploy/base/webhooks.yaml's timeoutSeconds.
const webhookTimeout = 5 * time.Second

// imageRoles creates system:image-puller and system:image-builder as OpenShift defines
// them. The API group image.openshift.io is not served here; RBAC and SubjectAccessReviews
// do not need it to be.
func imageRoles(t *testing.T) {
	t.Helper()
	roles := []rbacv1.ClusterRole{
		{ObjectMeta: metav1.ObjectMeta{Name: "system:image-puller"}, Rules: []rbacv1.PolicyRule{
			{Verbs: []string{"get"}, APIGroups: []string{"", "image.openshift.io"}, Resources: []string{"imagestreams/layers"}},
		}},
		{ObjectMeta: metav1.ObjectMeta{Name: "system:image-builder"}, Rules: []rbacv1.PolicyRule{
			{Verbs: []string{"get", "update"}, APIGroups: []string{"", "image.openshift.io"}, Resources: []string{"imagestreams/layers"}},
			{Verbs: []string{"create"}, APIGroups: []string{"", "image.openshift.io"}, Resources: []string{"imagestreams"}},
		}},
	}
	for i := range roles {
		_, err := cluster.Client.RbacV1().ClusterRoles().Create(context.Background(), &roles[i], metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
}

// bind binds a ClusterRole in ns to a subject ("sa:NS:NAME" or "group:NAME"), and returns
// the binding's name.
func bind(t *testing.T, ns, role, subject string) string {
	t.Helper()
	kind, rest, _ := strings.Cut(subject, ":")
	var s rbacv1.Subject
	switch kind {
	case "sa":
		saNS, name, _ := strings.Cut(rest, ":")
		s = rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Namespace: saNS, Name: name}
	case "group":
		s = rbacv1.Subject{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: rest}
	}
	rb := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "pull-", Namespace: ns},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
		Subjects:   []rbacv1.Subject{s},
	}
	got, err := cluster.Client.RbacV1().RoleBindings(ns).Create(context.Background(), rb, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return got.Name
}

// internalDockercfg returns an account's dockercfg secret as OpenShift's controller fills
// it: the registry names, the account named in its annotations. token "" leaves it empty.
func internalDockercfg(ns, name, sa, token string) *corev1.Secret {
	cfg := map[string]map[string]string{}
	if token != "" {
		for _, host := range strings.Split(internalRegistries, ",") {
			cfg[host] = map[string]string{"username": "serviceaccount", "password": token}
		}
	}
	raw, _ := json.Marshal(cfg)
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Annotations: map[string]string{
			decision.TokenServiceAccountAnnotation:              sa,
			"openshift.io/internal-registry-auth-token.binding": "bound",
		}},
		Type: corev1.SecretTypeDockercfg,
		Data: map[string][]byte{corev1.DockerConfigKey: raw},
	}
}

// project creates a namespace whose service accounts (default, and the others named)
// have their dockercfg secrets, as on OpenShift once its controllers ran.
func project(t *testing.T, name string, accounts ...string) string {
	t.Helper()
	ns := namespace(t, name, nil)
	ctx := context.Background()
	for _, sa := range append([]string{"default"}, accounts...) {
		secret := sa + "-dockercfg-abcde"
		if _, err := cluster.Client.CoreV1().Secrets(ns).Create(ctx, internalDockercfg(ns, secret, sa, testPassword), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := cluster.EnsureServiceAccount(ctx, ns, sa); err != nil {
			t.Fatal(err)
		}
		nameDockercfg(t, ns, sa, secret)
	}
	return ns
}

// nameDockercfg does what OpenShift's controller does first: the account lists its
// dockercfg secret and names it in an annotation.
func nameDockercfg(t *testing.T, ns, sa, secret string) {
	t.Helper()
	ctx := context.Background()
	acct, err := cluster.Client.CoreV1().ServiceAccounts(ns).Get(ctx, sa, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	acct.ImagePullSecrets = append(acct.ImagePullSecrets, corev1.LocalObjectReference{Name: secret})
	if acct.Annotations == nil {
		acct.Annotations = map[string]string{}
	}
	acct.Annotations[decision.PullSecretRefAnnotation] = secret
	if _, err := cluster.Client.CoreV1().ServiceAccounts(ns).Update(ctx, acct, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// applyUntilAdmitted applies a manifest until the API server admits it: the binding just
// created reaches the API server's RBAC cache, and pullguard's cached refusal expires,
// within a second or so. It returns kubectl's stderr.
func applyUntilAdmitted(t *testing.T, manifest string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		stdout, stderr, err := cluster.Kubectl(context.Background(), manifest, "apply", "-f", "-")
		if err == nil {
			return stderr
		}
		if time.Now().After(deadline) {
			t.Fatalf("still refused after 10s:\nstdout: %s\nstderr: %s", stdout, stderr)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// apiRequestsCounted reads pullguard_kube_api_requests_total.
func apiRequestsCounted(t *testing.T, w *harness.Webhook) int {
	t.Helper()
	resp, err := http.Get(w.MetricsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if line := sc.Text(); strings.HasPrefix(line, "pullguard_kube_api_requests_total ") {
			v, err := strconv.ParseFloat(strings.Fields(line)[1], 64)
			if err != nil {
				t.Fatal(err)
			}
			return int(v)
		}
	}
	t.Fatal("no pullguard_kube_api_requests_total in the metrics")
	return 0
}

// TestInternalRegistryCrossProject: a pod of A pulling B's image is denied with the fix
// from OpenShift's documentation until A's default account may pull from B, by a binding
// of the account itself; and the access review is one of pullguard's counted API requests.
func TestInternalRegistryCrossProject(t *testing.T) {
	imageRoles(t)
	a, b := project(t, "ir-a"), namespace(t, "ir-b", nil)
	manifest := podYAML(a, "app", nil, "app="+internalHost+"/"+b+"/app:1")

	before := apiRequestsCounted(t, webhook)
	_, stderr := kubectl(t, manifest, true, "apply", "-f", "-")
	assertContains(t, stderr,
		fmt.Sprintf(`service account "default" of namespace %q may not pull from project %q of the internal registry`, a, b),
		fmt.Sprintf("'oc policy add-role-to-user system:image-puller system:serviceaccount:%s:default --namespace=%s'", a, b),
		fmt.Sprintf("'oc policy add-role-to-group system:image-puller system:serviceaccounts:%s --namespace=%s'", a, b))
	if after := apiRequestsCounted(t, webhook); after <= before {
		t.Errorf("pullguard_kube_api_requests_total went from %d to %d: the access review was not counted", before, after)
	}
	// `webhook check --cluster` asks the cluster the same question.
	internal, err := registryauth.ParsePatterns(internalRegistries)
	if err != nil {
		t.Fatal(err)
	}
	code, doc, _ := runCheck(t, manifest, check.Options{InternalRegistries: internal})
	if got := outcomes(doc); code != check.ExitDenied || !slices.Equal(got, []string{"rejected:default-dockercfg-abcde"}) {
		t.Errorf("check --cluster: exit %d, %q; want 1, rejected", code, got)
	}

	bind(t, b, "system:image-puller", "sa:"+a+":default")
	applyUntilAdmitted(t, manifest)
	assertSecrets(t, pod(t, a, "app"), "default-dockercfg-abcde")
	code, doc, _ = runCheck(t, manifest, check.Options{InternalRegistries: internal})
	if got := outcomes(doc); code != check.ExitOK || !slices.Equal(got, []string{"covered:default-dockercfg-abcde"}) {
		t.Errorf("check --cluster once bound: exit %d, %q; want 0, covered", code, got)
	}
}

// TestInternalRegistryGroupBinding: the same pull is admitted when every service account of
// A may pull from B (the group form of the fix); and a pod pulling from its own project is
// admitted by the binding every OpenShift project has for its own service accounts.
func TestInternalRegistryGroupBinding(t *testing.T) {
	imageRoles(t)
	a, b := project(t, "ir-group-a"), namespace(t, "ir-group-b", nil)
	manifest := podYAML(a, "app", nil, "app="+internalHost+"/"+b+"/app:1")
	kubectl(t, manifest, true, "apply", "-f", "-")
	bind(t, b, "system:image-puller", "group:system:serviceaccounts:"+a)
	applyUntilAdmitted(t, manifest)

	own := podYAML(a, "own", nil, "app="+internalHost+"/"+a+"/app:1")
	_, stderr := kubectl(t, own, true, "apply", "-f", "-")
	assertContains(t, stderr, fmt.Sprintf("may not pull from project %q", a))
	bind(t, a, "system:image-puller", "group:system:serviceaccounts:"+a) // OpenShift's system:image-pullers
	applyUntilAdmitted(t, own)
	assertSecrets(t, pod(t, a, "own"), "default-dockercfg-abcde")
}

// TestInternalRegistryLateDockercfg: a pod created the moment its project is (its default
// account has no dockercfg secret yet) is held while the controller names the secret, and
// admitted with it injected, though the secret is still missing then; with no secret ever
// named, it is denied within the webhook's timeout, saying to retry.
func TestInternalRegistryLateDockercfg(t *testing.T) {
	imageRoles(t)
	ctx := context.Background()
	c := namespace(t, "ir-fresh", nil)
	bind(t, c, "system:image-puller", "group:system:serviceaccounts:"+c)
	// Created through client-go rather than kubectl, whose start-up on a busy machine can
	// take longer than the 500 ms the controller is given; its warnings are collected.
	warnings := &warningCollector{}
	cfg := rest.CopyConfig(cluster.Config)
	cfg.WarningHandler = warnings
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: c},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: internalHost + "/" + c + "/app:1"}}}}
	done := make(chan error, 1)
	go func() {
		_, err := client.CoreV1().Pods(c).Create(ctx, p, metav1.CreateOptions{})
		done <- err
	}()
	// The controller, in its order: name the secret on the account, create it empty,
	// fill in its token.
	time.Sleep(500 * time.Millisecond)
	nameDockercfg(t, c, "default", "default-dockercfg-xyz")
	secret := internalDockercfg(c, "default-dockercfg-xyz", "default", "")
	if _, err := cluster.Client.CoreV1().Secrets(c).Create(ctx, secret, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	filled := internalDockercfg(c, "default-dockercfg-xyz", "default", testPassword)
	if _, err := cluster.Client.CoreV1().Secrets(c).Update(ctx, filled, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("pod refused: %v", err)
	}
	assertSecrets(t, pod(t, c, "app"), "default-dockercfg-xyz")
	assertContains(t, warnings.String(), `named its pull secret "default-dockercfg-xyz" for the internal registry only after the pod was created`,
		`pull secret "default-dockercfg-xyz" of service account "default" has no credentials yet`)

	never := namespace(t, "ir-never", nil)
	start := time.Now()
	_, stderr := kubectl(t, podYAML(never, "app", nil, "app="+internalHost+"/"+never+"/app:1"), true, "apply", "-f", "-")
	if took := time.Since(start); took > webhookTimeout {
		t.Errorf("denied after %s, beyond the webhook's timeout", took)
	}
	assertContains(t, stderr, `service account "default" of namespace "ir-never" names no dockercfg secret for the internal registry yet`, decision.NotReadyMessage)
}

// warningCollector keeps the API server's warnings.
type warningCollector struct {
	mu    sync.Mutex
	lines []string
}

func (w *warningCollector) HandleWarningHeader(_ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.lines = append(w.lines, text)
}

func (w *warningCollector) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Join(w.lines, "\n")
}

// TestInternalRegistryBuildConfig: a BuildConfig of A building from an ImageStreamTag of B
// is denied until A's builder account may pull from B; its output pushed to B needs
// image-builder there.
func TestInternalRegistryBuildConfig(t *testing.T) {
	imageRoles(t)
	a, b := project(t, "ir-build-a", "builder"), namespace(t, "ir-build-b", nil)
	manifest := fmt.Sprintf(`apiVersion: build.openshift.io/v1
kind: BuildConfig
metadata: {name: api, namespace: %s}
spec:
  source: {git: {uri: "https://example.invalid/acme/api.git"}}
  strategy:
    type: Source
    sourceStrategy:
      from: {kind: ImageStreamTag, namespace: %s, name: "ruby:3.3"}
  output:
    to: {kind: ImageStreamTag, name: "api:latest"}
`, a, b)
	_, stderr := kubectl(t, manifest, true, "apply", "-f", "-")
	assertContains(t, stderr, fmt.Sprintf("'oc policy add-role-to-user system:image-puller system:serviceaccount:%s:builder --namespace=%s'", a, b))
	bind(t, b, "system:image-puller", "sa:"+a+":builder")
	applyUntilAdmitted(t, manifest)

	push := strings.Replace(manifest, `{kind: ImageStreamTag, name: "api:latest"}`, fmt.Sprintf(`{kind: ImageStreamTag, namespace: %s, name: "api:latest"}`, b), 1)
	push = strings.Replace(push, "name: api,", "name: api-push,", 1)
	_, stderr = kubectl(t, push, true, "apply", "-f", "-")
	assertContains(t, stderr, fmt.Sprintf("'oc policy add-role-to-user system:image-builder system:serviceaccount:%s:builder --namespace=%s'", a, b))
	bind(t, b, "system:image-builder", "sa:"+a+":builder")
	applyUntilAdmitted(t, push)
}
