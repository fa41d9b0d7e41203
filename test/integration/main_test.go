// Package integration drives pullguard through a real kube-apiserver and etcd with kubectl,
// as a user drives `oc apply`.
package integration

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/pullguard/pullguard/pkg/admission/decision"
	"github.com/pullguard/pullguard/pkg/admission/server"
	"github.com/pullguard/pullguard/pkg/registryauth"
	"github.com/pullguard/pullguard/test/harness"
)

// testPassword is the only credential the tests use; it must never appear in logs or
// messages.
const testPassword = "not-a-real-password"

// testUser is the username of every test pull secret.
const testUser = "ci-bot"

// privateRegistries are the registries the suite's webhook treats as private.
const privateRegistries = "*.private.test"

// nodeCredentials is the --node-credentials secret of the suite's webhook.
const nodeCredentials = "node-config/pull-secret"

var (
	cluster *harness.Cluster
	webhook *harness.Webhook
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	ctx := context.Background()
	var err error
	start := time.Now()
	cluster, err = harness.StartCluster()
	if err != nil {
		fmt.Fprintln(os.Stderr, "integration:", err)
		return 1
	}
	defer cluster.Stop()
	private, err := registryauth.ParsePatterns(privateRegistries)
	if err != nil {
		fmt.Fprintln(os.Stderr, "integration:", err)
		return 1
	}
	internal, err := registryauth.ParsePatterns(internalRegistries)
	if err != nil {
		fmt.Fprintln(os.Stderr, "integration:", err)
		return 1
	}
	webhook, err = cluster.StartWebhook(ctx, server.Options{
		Defaults:          decision.Policy{Mode: decision.Enforce, FailurePolicy: decision.FailOpen},
		PrivateRegistries: private,
		// The image registry's service names, as the OpenShift overlay sets them.
		InternalRegistries: internal,
		ExcludeNamespaces:  server.DefaultExclude,
		// Created by TestNodeCredentialsSecretIsWatched, after the webhook started.
		NodeCredentialSecrets: []string{nodeCredentials},
	}, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "integration:", err)
		return 1
	}
	defer webhook.Stop()
	fmt.Fprintf(os.Stderr, "integration: cluster and webhook up in %s\n", time.Since(start).Round(time.Millisecond))
	code := m.Run()
	// Whatever happened, passed or failed, no credential may have reached the logs: a
	// failing test is exactly when a credential is most likely to be logged.
	if leaked := leakedCredentials(webhook.Logs()); len(leaked) > 0 {
		fmt.Fprintf(os.Stderr, "integration: the webhook logged a credential (%s)\n", strings.Join(leaked, ", "))
		return 1
	}
	return code
}

// leakedCredentials names the forms of the test credential that text shows: the password,
// and the docker config auth field that carries it.
func leakedCredentials(text string) []string {
	var leaked []string
	if strings.Contains(text, testPassword) {
		leaked = append(leaked, "the password")
	}
	if strings.Contains(text, base64.StdEncoding.EncodeToString([]byte(testUser+":"+testPassword))) {
		leaked = append(leaked, "the auth field")
	}
	return leaked
}

// namespace creates a namespace with labels and its default service account.
func namespace(t *testing.T, name string, labels map[string]string, saPullSecrets ...string) string {
	return cluster.Namespace(t, name, labels, saPullSecrets...)
}

// pullSecret creates a pull secret for one registry key.
func pullSecret(t *testing.T, ns, name, registry string) {
	cluster.CreatePullSecret(t, ns, name, registry, testUser, testPassword)
}

// kubectl runs kubectl and fails the test on an error unless wantErr.
func kubectl(t *testing.T, stdin string, wantErr bool, args ...string) (stdout, stderr string) {
	t.Helper()
	stdout, stderr, err := cluster.Kubectl(context.Background(), stdin, args...)
	if (err != nil) != wantErr {
		t.Fatalf("kubectl %s: err = %v, wantErr %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, wantErr, stdout, stderr)
	}
	for _, out := range []string{stdout, stderr} {
		if strings.Contains(out, testPassword) {
			t.Fatalf("kubectl output shows a credential: %s", out)
		}
	}
	return stdout, stderr
}

func pod(t *testing.T, ns, name string) *corev1.Pod {
	t.Helper()
	p, err := cluster.Client.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func pullSecretNames(p *corev1.Pod) []string {
	var names []string
	for _, ref := range p.Spec.ImagePullSecrets {
		names = append(names, ref.Name)
	}
	return names
}

func assertSecrets(t *testing.T, p *corev1.Pod, want ...string) {
	t.Helper()
	if got := pullSecretNames(p); !slices.Equal(got, want) {
		t.Fatalf("pod %s/%s imagePullSecrets = %q, want %q", p.Namespace, p.Name, got, want)
	}
}

func assertContains(t *testing.T, text string, fragments ...string) {
	t.Helper()
	for _, f := range fragments {
		if !strings.Contains(text, f) {
			t.Errorf("missing %q in:\n%s", f, text)
		}
	}
}

// podYAML is a pod manifest with containers given as name=image.
func podYAML(ns, name string, secrets []string, containers ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: v1\nkind: Pod\nmetadata:\n  name: %s\n  namespace: %s\nspec:\n", name, ns)
	if len(secrets) > 0 {
		b.WriteString("  imagePullSecrets:\n")
		for _, s := range secrets {
			fmt.Fprintf(&b, "  - name: %s\n", s)
		}
	}
	b.WriteString("  containers:\n")
	for _, c := range containers {
		n, img, _ := strings.Cut(c, "=")
		fmt.Fprintf(&b, "  - name: %s\n    image: %s\n", n, img)
	}
	return b.String()
}
