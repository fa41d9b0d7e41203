package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/pullguard/pullguard/pkg/admission/check"
	"github.com/pullguard/pullguard/pkg/registryauth"
)

// runCheck runs `webhook check --cluster` against the test cluster.
func runCheck(t *testing.T, stdin string, args check.Options) (int, map[string]any, string) {
	t.Helper()
	args.Cluster, args.Kubeconfig, args.Output, args.Files = true, cluster.Kubeconfig, "json", []string{"-"}
	var err error
	if args.PrivateRegistries, err = registryauth.ParsePatterns(privateRegistries); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	code := check.Run(context.Background(), args, strings.NewReader(stdin), &stdout, &stderr)
	var doc map[string]any
	if code != check.ExitUsage {
		if err := json.Unmarshal(stdout.Bytes(), &doc); err != nil {
			t.Fatalf("not JSON: %v\n%s", err, stdout.String())
		}
	}
	if strings.Contains(stdout.String()+stderr.String(), testPassword) {
		t.Fatal("check printed a credential")
	}
	return code, doc, stderr.String()
}

// outcomes lists "outcome:secret" of every image of every object.
func outcomes(doc map[string]any) []string {
	var out []string
	for _, o := range doc["objects"].([]any) {
		for _, img := range o.(map[string]any)["images"].([]any) {
			m := img.(map[string]any)
			out = append(out, fmt.Sprintf("%s:%s", m["outcome"], m["secret"]))
		}
	}
	return out
}

func TestCheckAgainstTheCluster(t *testing.T) {
	ns := namespace(t, "audit", nil, "sa-ghcr")
	pullSecret(t, ns, "acme", "registry.private.test")
	pullSecret(t, ns, "sa-ghcr", "ghcr.private.test")
	manifest := podYAML(ns, "web", nil,
		"app=registry.private.test/acme/app:1", "side=ghcr.private.test/acme/side:1", "db=quay.private.test/acme/db:1")

	code, doc, stderr := runCheck(t, manifest, check.Options{})
	if code != check.ExitDenied {
		t.Fatalf("exit %d, want %d: %s", code, check.ExitDenied, stderr)
	}
	if got, want := strings.Join(outcomes(doc), " "), "injected:acme covered:sa-ghcr missing:"; got != want {
		t.Errorf("outcomes %q, want %q", got, want)
	}

	// A secret in the manifest counts as if it were applied with it.
	withSecret := manifest + "---\napiVersion: v1\nkind: Secret\nmetadata: {name: quay, namespace: audit}\ntype: kubernetes.io/dockerconfigjson\nstringData:\n  .dockerconfigjson: '{\"auths\":{\"quay.private.test\":{\"username\":\"ci-bot\",\"password\":\"" + testPassword + "\"}}}'\n"
	code, doc, stderr = runCheck(t, withSecret, check.Options{})
	if code != check.ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if got := strings.Join(outcomes(doc), " "); got != "injected:acme covered:sa-ghcr injected:quay" {
		t.Errorf("outcomes %q", got)
	}

	// Auditing what is already there: the live pods, as kubectl prints them.
	kubectl(t, podYAML(ns, "live", nil, "app=registry.private.test/acme/app:1"), false, "apply", "-f", "-")
	live, _ := kubectl(t, "", false, "get", "pods", "-n", ns, "-o", "yaml")
	code, doc, stderr = runCheck(t, live, check.Options{})
	if code != check.ExitOK {
		t.Fatalf("audit exit %d: %s", code, stderr)
	}
	if got := strings.Join(outcomes(doc), " "); got != "covered:acme" {
		t.Errorf("audit outcomes %q", got)
	}
}

// TestCheckClusterNodeCredentials: `check --cluster --node-credentials NS/NAME` reads the
// nodes' pull secret from the cluster, as serve does, and gives serve's answers.
func TestCheckClusterNodeCredentials(t *testing.T) {
	global := namespace(t, "global-config", nil)
	pullSecret(t, global, "pull-secret", "node.private.test")
	ns := namespace(t, "audit-node", nil)
	manifest := podYAML(ns, "web", nil, "app=node.private.test/acme/app:1")

	code, doc, stderr := runCheck(t, manifest, check.Options{NodeCredentialSecrets: []string{global + "/pull-secret"}})
	if code != check.ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if got, want := strings.Join(outcomes(doc), " "), "node:node:"+global+"/pull-secret"; got != want {
		t.Errorf("outcomes %q, want %q", got, want)
	}
	// Without it, the same pod would be denied.
	if code, _, _ = runCheck(t, manifest, check.Options{}); code != check.ExitDenied {
		t.Errorf("without --node-credentials: exit %d, want %d", code, check.ExitDenied)
	}
	if code, _, stderr = runCheck(t, manifest, check.Options{NodeCredentialSecrets: []string{global + "/absent"}}); code != check.ExitUsage || !strings.Contains(stderr, "absent") {
		t.Errorf("a node secret that does not exist: exit %d, %q", code, stderr)
	}
}

// checkCommand runs the `check` command as users type it (kubectl's flags and arguments)
// against the test cluster, and returns its exit code, stdout and stderr.
func checkCommand(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := check.NewCommand("webhook", genericiooptions.IOStreams{In: strings.NewReader(stdin), Out: &stdout, ErrOut: &stderr})
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	cmd.SetArgs(args)
	code := check.ExitOK
	if err := cmd.ExecuteContext(context.Background()); err != nil {
		var exit *check.ExitError
		if !errors.As(err, &exit) {
			t.Fatalf("check %v: %v", args, err)
		}
		code = exit.Code
	}
	if leaked := leakedCredentials(stdout.String() + stderr.String()); len(leaked) > 0 {
		t.Fatalf("check printed a credential: %v", leaked)
	}
	return code, stdout.String(), stderr.String()
}

// kubeconfigIn writes a copy of the cluster's kubeconfig whose current context's namespace
// is ns, as `kubectl config set-context --current --namespace ns` leaves it.
func kubeconfigIn(t *testing.T, ns string) string {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(cluster.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Contexts[cfg.CurrentContext].Namespace = ns
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestCheckPodByName debugs a pull failure as the README tells: `check pod/NAME` reads the
// live pod and decides it with the namespace's secrets. The namespace is the kubeconfig
// context's when -n is not given.
func TestCheckPodByName(t *testing.T) {
	ns := namespace(t, "debug-pod", nil)
	pullSecret(t, ns, "acme", "registry.private.test")
	kubectl(t, podYAML(ns, "web", nil, "app=registry.private.test/acme/app:1"), false, "apply", "-f", "-")
	assertSecrets(t, pod(t, ns, "web"), "acme")
	kubeconfig := kubeconfigIn(t, ns)

	code, stdout, stderr := checkCommand(t, "", "pod/web", "--kubeconfig", kubeconfig, "--private-registries", privateRegistries)
	if code != check.ExitOK {
		t.Fatalf("exit %d: %s%s", code, stdout, stderr)
	}
	assertContains(t, stdout, "Pod "+ns+"/web (cluster): admitted", `pull secret "acme" on the pod has credentials for registry.private.test`)

	// A TYPE alone lists them, as kubectl get does.
	if code, stdout, stderr = checkCommand(t, "", "pods", "--kubeconfig", kubeconfig, "--private-registries", privateRegistries); code != check.ExitOK || !strings.Contains(stdout, "Pod "+ns+"/web (cluster): admitted") || !strings.Contains(stdout, "1 object,") {
		t.Errorf("check pods: exit %d:\n%s%s", code, stdout, stderr)
	}

	// The secret is deleted: the pod keeps naming it, the kubelet finds nothing to pull with.
	if err := cluster.Client.CoreV1().Secrets(ns).Delete(context.Background(), "acme", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = checkCommand(t, "", "pod/web", "--kubeconfig", kubeconfig, "--private-registries", privateRegistries, "-o", "json")
	if code != check.ExitDenied {
		t.Fatalf("after deleting the secret: exit %d, want %d: %s%s", code, check.ExitDenied, stdout, stderr)
	}
	var doc struct {
		Objects []struct {
			Namespace, Name, Verdict string
			Source                   struct{ Cluster bool }
			Images                   []struct{ Outcome string }
		}
	}
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Objects) != 1 || doc.Objects[0].Namespace != ns || doc.Objects[0].Verdict != "denied" || !doc.Objects[0].Source.Cluster || doc.Objects[0].Images[0].Outcome != "missing" {
		t.Errorf("report %+v, want pod %s/web denied, its image missing, from the cluster", doc.Objects, ns)
	}

	// -n wins over the context; another namespace has no pod web.
	other := namespace(t, "debug-pod-other", nil)
	if code, _, stderr = checkCommand(t, "", "pod/web", "--kubeconfig", kubeconfig, "-n", other); code != check.ExitUsage || !strings.Contains(stderr, `pods "web" not found`) {
		t.Errorf("-n %s: exit %d, %q", other, code, stderr)
	}
}

// TestCheckContextNamespace: manifests that name no namespace are decided in the kubeconfig
// context's namespace, with its secrets, as `kubectl apply` would create them there.
func TestCheckContextNamespace(t *testing.T) {
	ns := namespace(t, "ctx-namespace", nil)
	pullSecret(t, ns, "acme", "registry.private.test")
	manifest := "apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec: {containers: [{name: app, image: registry.private.test/acme/app:1}]}\n"

	code, stdout, stderr := checkCommand(t, manifest, "-f", "-", "--cluster", "--kubeconfig", kubeconfigIn(t, ns), "--private-registries", privateRegistries)
	if code != check.ExitOK {
		t.Fatalf("exit %d: %s%s", code, stdout, stderr)
	}
	assertContains(t, stdout, "Pod "+ns+"/web (<stdin>: document 1): patched", `pull secret "acme" of namespace "`+ns+`"`)
	// The kubeconfig's default namespace has no such secret.
	if code, stdout, _ = checkCommand(t, manifest, "-f", "-", "--cluster", "--kubeconfig", cluster.Kubeconfig, "--private-registries", privateRegistries); code != check.ExitDenied || !strings.Contains(stdout, "Pod default/web") {
		t.Errorf("without a context namespace: exit %d:\n%s", code, stdout)
	}
}

// TestCheckServerConfig: with --cluster, check applies the server's settings from its
// ConfigMap (what `webhook serve --config-dir` reads where the Deployment mounts it), and
// flags given on the command line win.
func TestCheckServerConfig(t *testing.T) {
	ns := namespace(t, "server-config", nil)
	if _, err := cluster.Client.CoreV1().ConfigMaps(ns).Create(context.Background(), &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "pullguard-config"},
		Data:       map[string]string{"private-registries": privateRegistries, "default-mode": "enforce", "bind-address": ":8443"},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	manifest := podYAML(ns, "web", nil, "app=quay.private.test/acme/app:1")
	serverConfig := "--server-config=" + ns + "/pullguard-config"

	code, stdout, stderr := checkCommand(t, manifest, "-f", "-", "--cluster", "--kubeconfig", cluster.Kubeconfig, serverConfig)
	if code != check.ExitDenied {
		t.Fatalf("with the server's private registries: exit %d, want %d: %s%s", code, check.ExitDenied, stdout, stderr)
	}
	assertContains(t, stderr, "note: settings of ConfigMap "+ns+"/pullguard-config: default-mode=enforce, private-registries="+privateRegistries)
	// The command line wins over the ConfigMap.
	if code, stdout, _ = checkCommand(t, manifest, "-f", "-", "--cluster", "--kubeconfig", cluster.Kubeconfig, serverConfig, "--private-registries", "other.test"); code != check.ExitOK || !strings.Contains(stdout, "not verified") {
		t.Errorf("--private-registries given: exit %d:\n%s", code, stdout)
	}
	// No ConfigMap: a note, and the flags alone decide.
	code, stdout, stderr = checkCommand(t, manifest, "-f", "-", "--cluster", "--kubeconfig", cluster.Kubeconfig, "--server-config="+ns+"/absent")
	if code != check.ExitOK || !strings.Contains(stderr, "ConfigMap "+ns+"/absent not found") {
		t.Errorf("absent ConfigMap: exit %d, %q", code, stderr)
	}
}
