// Package verification drives pullguard with --verify through a real kube-apiserver,
// against real registries on loopback: Debian's docker-registry with TLS and htpasswd, one
// with anonymous access, one with token auth (a small token server of the test), a listener
// that never answers, and a registry stopped mid-test.
package verification

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/pullguard/pullguard/pkg/admission/decision"
	"github.com/pullguard/pullguard/pkg/admission/server"
	"github.com/pullguard/pullguard/pkg/registryauth/probe"
	"github.com/pullguard/pullguard/test/harness"
)

// The tests' only credentials: fake, and never to appear in logs or messages.
const (
	user          = "ci-bot"
	password      = "not-a-real-password-good"
	stalePassword = "not-a-real-password-stale"
)

var (
	cluster                           *harness.Cluster
	webhook                           *harness.Webhook
	tlsFiles                          *harness.TLS
	basic, anonymous, token, stopping *harness.Registry
	hanging                           string
)

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	fail := func(err error) int { fmt.Fprintln(os.Stderr, "verification:", err); return 1 }
	ctx := context.Background()
	start := time.Now()
	dir, err := os.MkdirTemp("", "pullguard-verification-")
	if err != nil {
		return fail(err)
	}
	defer os.RemoveAll(dir)
	if tlsFiles, err = harness.NewTLS(dir); err != nil {
		return fail(err)
	}
	users := map[string]string{user: password}
	if basic, err = harness.StartRegistry(dir+"/basic", tlsFiles, harness.RegistryAuth{Users: users}); err != nil {
		return fail(err)
	}
	defer basic.Stop()
	if anonymous, err = harness.StartRegistry(dir+"/anonymous", tlsFiles, harness.RegistryAuth{}); err != nil {
		return fail(err)
	}
	defer anonymous.Stop()
	if stopping, err = harness.StartRegistry(dir+"/stopping", tlsFiles, harness.RegistryAuth{Users: users}); err != nil {
		return fail(err)
	}
	defer stopping.Stop()
	ts, err := harness.StartTokenServer(dir, tlsFiles, users)
	if err != nil {
		return fail(err)
	}
	defer ts.Close()
	if token, err = harness.StartRegistry(dir+"/token", tlsFiles, harness.RegistryAuth{Token: ts}); err != nil {
		return fail(err)
	}
	defer token.Stop()
	var closeHanging func()
	if hanging, closeHanging, err = harness.HangingListener(); err != nil {
		return fail(err)
	}
	defer closeHanging()
	for _, push := range []struct {
		r    *harness.Registry
		user string
	}{{basic, user}, {anonymous, ""}, {token, user}, {stopping, user}} {
		if _, err := push.r.Push(ctx, "acme/app:1.0", push.user, password); err != nil {
			return fail(err)
		}
	}

	if cluster, err = harness.StartCluster(); err != nil {
		return fail(err)
	}
	defer cluster.Stop()
	webhook, err = cluster.StartWebhook(ctx, server.Options{
		Defaults:          decision.Policy{Mode: decision.Enforce, FailurePolicy: decision.FailOpen},
		ExcludeNamespaces: server.DefaultExclude,
		Verify:            true,
		VerifyTimeout:     3 * time.Second,
		RegistryCAFiles:   []string{tlsFiles.CAFile},
		// The test registries are on loopback, which the default list denies.
		VerifyDenyNetworks: probe.MustParseNetworks(deniedNetwork),
		VerifyMaxProbes:    maxProbes,
	}, nil)
	if err != nil {
		return fail(err)
	}
	defer webhook.Stop()
	fmt.Fprintf(os.Stderr, "verification: registries, cluster and webhook up in %s\n", time.Since(start).Round(time.Millisecond))
	code := m.Run()
	// Passed or failed, no credential may reach the logs: a failing test is exactly when
	// one is most likely to be logged.
	logs := webhook.Logs()
	for _, pass := range []string{password, stalePassword} {
		auth := base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
		if strings.Contains(logs, pass) || strings.Contains(logs, auth) {
			return fail(fmt.Errorf("the webhook logged a test password"))
		}
	}
	return code
}

func namespace(t *testing.T, name string, labels map[string]string) string {
	return cluster.Namespace(t, name, labels)
}

func pullSecret(t *testing.T, ns, name, registry, pass string) {
	cluster.CreatePullSecret(t, ns, name, registry, user, pass)
}

// apply applies a one-container pod and returns kubectl's output; it fails the test unless
// the outcome is as wanted.
func apply(t *testing.T, ns, name, image string, wantDenied bool) (stdout, stderr string) {
	t.Helper()
	manifest := fmt.Sprintf("apiVersion: v1\nkind: Pod\nmetadata: {name: %s, namespace: %s}\nspec:\n  containers:\n  - {name: app, image: %q}\n", name, ns, image)
	stdout, stderr, err := cluster.Kubectl(context.Background(), manifest, "apply", "-f", "-")
	if (err != nil) != wantDenied {
		t.Fatalf("kubectl apply: err = %v, want denied %v\n%s%s", err, wantDenied, stdout, stderr)
	}
	for _, secret := range []string{password, stalePassword} {
		if strings.Contains(stdout+stderr, secret) {
			t.Fatal("kubectl output shows a test password")
		}
	}
	return stdout, stderr
}

func secretsOf(t *testing.T, ns, name string) []string {
	t.Helper()
	p, err := cluster.Client.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, ref := range p.Spec.ImagePullSecrets {
		names = append(names, ref.Name)
	}
	return names
}

func assertSecrets(t *testing.T, ns, name string, want ...string) {
	t.Helper()
	if got := secretsOf(t, ns, name); !slices.Equal(got, want) {
		t.Fatalf("imagePullSecrets = %q, want %q", got, want)
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
