// Package deploy renders the kustomize overlays of deploy/ with the pinned kubectl and checks
// what an admin would install: the split failure policy, the exclusions, the hardening, the
// RBAC; and applies the OpenShift overlay to a real API server.
package deploy

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	admissionregv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/pullguard/pullguard/certs"
	"github.com/pullguard/pullguard/test/harness"
)

// rendered is an overlay's output, by kind.
type rendered struct {
	docs map[string][]json.RawMessage
}

func render(t *testing.T, dir string) *rendered {
	t.Helper()
	cmd := exec.Command(filepath.Join(harness.BinDir(), "kubectl"), "kustomize", dir)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("kubectl kustomize %s: %v\n%s", dir, err, errOut.String())
	}
	r := &rendered{docs: map[string][]json.RawMessage{}}
	dec := utilyaml.NewYAMLOrJSONDecoder(&out, 4096)
	for {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			if errors.Is(err, io.EOF) {
				return r
			}
			t.Fatal(err)
		}
		var tm metav1.TypeMeta
		if err := json.Unmarshal(raw, &tm); err != nil {
			t.Fatal(err)
		}
		r.docs[tm.Kind] = append(r.docs[tm.Kind], raw)
	}
}

// one decodes the only object of a kind.
func one[T any](t *testing.T, r *rendered, kind string) *T {
	t.Helper()
	if n := len(r.docs[kind]); n != 1 {
		t.Fatalf("want exactly one %s, got %d", kind, n)
	}
	v := new(T)
	if err := json.Unmarshal(r.docs[kind][0], v); err != nil {
		t.Fatal(err)
	}
	return v
}

func overlay(name string) string { return filepath.Join(harness.Root, "deploy", "overlays", name) }

// baseExclusions are left alone on every cluster.
var baseExclusions = []string{"kube-system", "kube-public", "kube-node-lease", "pullguard"}

func excludedNames(sel *metav1.LabelSelector) []string {
	var names []string
	for _, e := range sel.MatchExpressions {
		if e.Key == "kubernetes.io/metadata.name" && e.Operator == metav1.LabelSelectorOpNotIn {
			names = append(names, e.Values...)
		}
	}
	return names
}

func hasExpression(sel *metav1.LabelSelector, key string, op metav1.LabelSelectorOperator, values ...string) bool {
	return slices.ContainsFunc(sel.MatchExpressions, func(e metav1.LabelSelectorRequirement) bool {
		return e.Key == key && e.Operator == op && slices.Equal(e.Values, values)
	})
}

func TestWebhookConfigurations(t *testing.T) {
	for _, name := range []string{"openshift", "kubernetes"} {
		t.Run(name, func(t *testing.T) {
			r := render(t, overlay(name))
			m := one[admissionregv1.MutatingWebhookConfiguration](t, r, "MutatingWebhookConfiguration")
			if len(m.Webhooks) != 2 {
				t.Fatalf("want two mutating entries split by failure policy, got %d", len(m.Webhooks))
			}
			byPolicy := map[admissionregv1.FailurePolicyType]admissionregv1.MutatingWebhook{}
			for _, w := range m.Webhooks {
				byPolicy[*w.FailurePolicy] = w
				if *w.SideEffects != admissionregv1.SideEffectClassNone || *w.TimeoutSeconds != 5 ||
					*w.ReinvocationPolicy != admissionregv1.IfNeededReinvocationPolicy || *w.MatchPolicy != admissionregv1.Equivalent {
					t.Errorf("%s: sideEffects/timeout/reinvocation/matchPolicy = %s/%d/%s/%s", w.Name, *w.SideEffects, *w.TimeoutSeconds, *w.ReinvocationPolicy, *w.MatchPolicy)
				}
				for _, ns := range baseExclusions {
					if !slices.Contains(excludedNames(w.NamespaceSelector), ns) {
						t.Errorf("%s does not exclude %s", w.Name, ns)
					}
				}
				if !hasExpression(w.NamespaceSelector, "pullguard.io/mode", metav1.LabelSelectorOpNotIn, "off") {
					t.Errorf("%s must leave out namespaces labelled pullguard.io/mode=off", w.Name)
				}
				if *w.ClientConfig.Service.Path != "/mutate" {
					t.Errorf("%s path %s", w.Name, *w.ClientConfig.Service.Path)
				}
				assertRules(t, w.Name, w.Rules, map[string][]admissionregv1.OperationType{
					"/pods":                           {admissionregv1.Create},
					"build.openshift.io/buildconfigs": {admissionregv1.Create, admissionregv1.Update},
				})
			}
			closed, open := byPolicy[admissionregv1.Fail], byPolicy[admissionregv1.Ignore]
			if !hasExpression(closed.NamespaceSelector, "pullguard.io/failure-policy", metav1.LabelSelectorOpIn, "closed") {
				t.Error("the Fail entry must select pullguard.io/failure-policy=closed")
			}
			if !hasExpression(open.NamespaceSelector, "pullguard.io/failure-policy", metav1.LabelSelectorOpNotIn, "closed") {
				t.Error("the Ignore entry must select every namespace not labelled closed")
			}

			v := one[admissionregv1.ValidatingWebhookConfiguration](t, r, "ValidatingWebhookConfiguration")
			if len(v.Webhooks) != 1 || *v.Webhooks[0].FailurePolicy != admissionregv1.Ignore || *v.Webhooks[0].ClientConfig.Service.Path != "/validate" {
				t.Fatalf("validating entries: %+v", v.Webhooks)
			}
			if !hasExpression(v.Webhooks[0].NamespaceSelector, "pullguard.io/mode", metav1.LabelSelectorOpNotIn, "off") {
				t.Error("the validating entry must leave out namespaces labelled pullguard.io/mode=off")
			}
			assertSplit(t, m, admissionregv1.Ignore)
			assertRules(t, "validate", v.Webhooks[0].Rules, map[string][]admissionregv1.OperationType{
				"apps/deployments": {admissionregv1.Create, admissionregv1.Update}, "apps/statefulsets": {admissionregv1.Create, admissionregv1.Update},
				"apps/daemonsets": {admissionregv1.Create, admissionregv1.Update}, "apps/replicasets": {admissionregv1.Create, admissionregv1.Update},
				"batch/jobs": {admissionregv1.Create, admissionregv1.Update}, "batch/cronjobs": {admissionregv1.Create, admissionregv1.Update},
				"apps.openshift.io/deploymentconfigs": {admissionregv1.Create, admissionregv1.Update},
			})

			switch name {
			case "openshift":
				for _, w := range append([]metav1.LabelSelector{*closed.NamespaceSelector, *open.NamespaceSelector}, *v.Webhooks[0].NamespaceSelector) {
					if !hasExpression(&w, "openshift.io/run-level", metav1.LabelSelectorOpDoesNotExist) || !slices.Contains(excludedNames(&w), "openshift-config") {
						t.Errorf("OpenShift's namespaces not excluded: %+v", w.MatchExpressions)
					}
				}
				for _, ann := range []map[string]string{m.Annotations, v.Annotations} {
					if ann["service.beta.openshift.io/inject-cabundle"] != "true" {
						t.Error("webhook configurations need the service-ca inject-cabundle annotation")
					}
				}
				svc := one[corev1.Service](t, r, "Service")
				if svc.Annotations["service.beta.openshift.io/serving-cert-secret-name"] != "pullguard-tls" {
					t.Error("the Service must ask service-ca for the pullguard-tls secret")
				}
				dep := one[appsv1.Deployment](t, r, "Deployment")
				if !slices.Contains(dep.Spec.Template.Spec.Containers[0].Args, "--node-credentials=openshift-config/pull-secret") {
					t.Error("the global pull secret must count as node credentials")
				}
				if !slices.Contains(dep.Spec.Template.Spec.Containers[0].Args, "--internal-registries=image-registry.openshift-image-registry.svc:5000,image-registry.openshift-image-registry.svc.cluster.local:5000") {
					t.Error("the internal registry's service names must be --internal-registries")
				}
			case "kubernetes":
				for _, ann := range []map[string]string{m.Annotations, v.Annotations} {
					if ann["cert-manager.io/inject-ca-from"] != "pullguard/pullguard-serving" {
						t.Error("webhook configurations need cert-manager's inject-ca-from")
					}
				}
				if len(r.docs["Issuer"]) != 1 {
					t.Error("want a self-signed Issuer")
				}
				var cert struct {
					Spec struct {
						SecretName string   `json:"secretName"`
						DNSNames   []string `json:"dnsNames"`
					} `json:"spec"`
				}
				if err := json.Unmarshal(r.docs["Certificate"][0], &cert); err != nil {
					t.Fatal(err)
				}
				if cert.Spec.SecretName != "pullguard-tls" || !slices.Contains(cert.Spec.DNSNames, "pullguard.pullguard.svc") {
					t.Errorf("certificate: %+v", cert.Spec)
				}
			}
		})
	}
}

func assertRules(t *testing.T, name string, rules []admissionregv1.RuleWithOperations, want map[string][]admissionregv1.OperationType) {
	t.Helper()
	got := map[string][]admissionregv1.OperationType{}
	for _, r := range rules {
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				got[g+"/"+res] = r.Operations
			}
		}
	}
	if len(got) != len(want) {
		t.Errorf("%s: rules %v, want %v", name, got, want)
	}
	for k, ops := range want {
		if !slices.Equal(got[k], ops) {
			t.Errorf("%s: %s operations %v, want %v", name, k, got[k], ops)
		}
	}
}

func TestHardening(t *testing.T) {
	r := render(t, overlay("kubernetes"))
	dep := one[appsv1.Deployment](t, r, "Deployment")
	spec := dep.Spec.Template.Spec
	if *dep.Spec.Replicas != 2 || len(spec.TopologySpreadConstraints) == 0 || spec.TopologySpreadConstraints[0].TopologyKey != "kubernetes.io/hostname" {
		t.Error("want 2 replicas spread across nodes")
	}
	if spec.SecurityContext.RunAsNonRoot == nil || !*spec.SecurityContext.RunAsNonRoot || spec.SecurityContext.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Error("pod must run as non-root with seccomp RuntimeDefault")
	}
	c := spec.Containers[0]
	sc := c.SecurityContext
	if !*sc.ReadOnlyRootFilesystem || *sc.AllowPrivilegeEscalation || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || sc.Privileged != nil && *sc.Privileged {
		t.Errorf("container security context: %+v", sc)
	}
	if c.ReadinessProbe.HTTPGet.Path != "/readyz" || c.LivenessProbe.HTTPGet.Path != "/healthz" {
		t.Error("want readiness on /readyz and liveness on /healthz")
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Error("want cpu and memory requests and a memory limit")
	}
	if spec.Volumes[0].Secret.SecretName != "pullguard-tls" {
		t.Error("the serving certificate comes from pullguard-tls")
	}
	pdb := one[policyv1.PodDisruptionBudget](t, r, "PodDisruptionBudget")
	if pdb.Spec.MinAvailable.IntValue() != 1 {
		t.Error("the PodDisruptionBudget must keep one replica")
	}
	np := one[networkingv1.NetworkPolicy](t, r, "NetworkPolicy")
	if np.Spec.PodSelector.MatchLabels["app.kubernetes.io/name"] != "pullguard" || len(np.Spec.Ingress) == 0 {
		t.Error("want a NetworkPolicy for pullguard's pods")
	}
}

func TestRBAC(t *testing.T) {
	r := render(t, overlay("openshift"))
	role := one[rbacv1.ClusterRole](t, r, "ClusterRole")
	var granted []string
	for _, rule := range role.Rules {
		for _, g := range rule.APIGroups {
			for _, res := range rule.Resources {
				for _, verb := range rule.Verbs {
					if g == "*" || res == "*" || verb == "*" {
						t.Errorf("wildcard in %+v", rule)
					}
					granted = append(granted, g+"/"+res+":"+verb)
				}
			}
		}
	}
	slices.Sort(granted)
	// No get: pullguard only lists and watches (informers; a List before a denial); it
	// asks SubjectAccessReviews for the internal registry's cross-project rule; and it
	// watches OpenShift's mirror sets, which say where the nodes pull from.
	want := []string{"/namespaces:list", "/namespaces:watch", "/secrets:list", "/secrets:watch", "/serviceaccounts:list", "/serviceaccounts:watch", "authorization.k8s.io/subjectaccessreviews:create",
		"config.openshift.io/imagedigestmirrorsets:list", "config.openshift.io/imagedigestmirrorsets:watch",
		"config.openshift.io/imagetagmirrorsets:list", "config.openshift.io/imagetagmirrorsets:watch",
		"operator.openshift.io/imagecontentsourcepolicies:list", "operator.openshift.io/imagecontentsourcepolicies:watch"}
	if !slices.Equal(granted, want) {
		t.Errorf("granted %v, want exactly %v", granted, want)
	}
	if len(r.docs["Role"]) != 0 {
		t.Error("no other roles")
	}
}

// TestOpenShiftRunsCRIO: on OpenShift pullguard applies CRI-O's mirror rules (and so
// watches the mirror sets), in serve's arguments and in the settings check --cluster reads;
// elsewhere the runtime is containerd.
func TestOpenShiftRunsCRIO(t *testing.T) {
	for _, tt := range []struct {
		overlay, config, arg string
	}{
		{"openshift", "crio", "--runtime=crio"},
		{"kubernetes", "containerd", ""},
	} {
		t.Run(tt.overlay, func(t *testing.T) {
			r := render(t, overlay(tt.overlay))
			args := one[appsv1.Deployment](t, r, "Deployment").Spec.Template.Spec.Containers[0].Args
			runtimeArgs := slices.DeleteFunc(slices.Clone(args), func(a string) bool { return !strings.HasPrefix(a, "--runtime") })
			if tt.arg == "" && len(runtimeArgs) != 0 || tt.arg != "" && !slices.Equal(runtimeArgs, []string{tt.arg}) {
				t.Errorf("runtime arguments %q, want %q", runtimeArgs, tt.arg)
			}
			found := false
			for _, raw := range r.docs["ConfigMap"] {
				cm := &corev1.ConfigMap{}
				if err := json.Unmarshal(raw, cm); err != nil {
					t.Fatal(err)
				}
				if cm.Name == "pullguard-config" {
					found = true
					if cm.Data["runtime"] != tt.config {
						t.Errorf("pullguard-config runtime %q, want %q", cm.Data["runtime"], tt.config)
					}
				}
			}
			if !found {
				t.Error("no pullguard-config ConfigMap")
			}
		})
	}
}

func TestServiceMonitorComponent(t *testing.T) {
	dir := t.TempDir()
	rel := func(p string) string {
		r, err := filepath.Rel(dir, p)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	k := "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- " + rel(overlay("kubernetes")) +
		"\ncomponents:\n- " + rel(filepath.Join(harness.Root, "deploy", "components", "servicemonitor")) + "\n"
	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(k), 0o600); err != nil {
		t.Fatal(err)
	}
	r := render(t, dir)
	if len(r.docs["ServiceMonitor"]) != 1 {
		t.Fatal("the component adds a ServiceMonitor")
	}
}

func TestSelfSignedOverlay(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "self-signed")
	if err := certs.WriteOverlay(certs.OverlayOptions{Dir: dir, Base: filepath.Join(harness.Root, "deploy", "base"), Service: "pullguard", Namespace: "pullguard", SecretName: "pullguard-tls", ValidFor: time.Hour}); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(filepath.Join(dir, "tls.key"))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("tls.key: %v %v", err, info.Mode())
	}
	r := render(t, dir)
	secret := one[corev1.Secret](t, r, "Secret")
	if secret.Type != corev1.SecretTypeTLS || secret.Name != "pullguard-tls" {
		t.Fatalf("secret %s of type %s", secret.Name, secret.Type)
	}
	ca, _ := os.ReadFile(filepath.Join(dir, "ca.crt"))
	m := one[admissionregv1.MutatingWebhookConfiguration](t, r, "MutatingWebhookConfiguration")
	v := one[admissionregv1.ValidatingWebhookConfiguration](t, r, "ValidatingWebhookConfiguration")
	for _, bundle := range [][]byte{m.Webhooks[0].ClientConfig.CABundle, m.Webhooks[1].ClientConfig.CABundle, v.Webhooks[0].ClientConfig.CABundle} {
		if !bytes.Equal(bundle, ca) {
			t.Fatal("every webhook entry must carry the generated CA")
		}
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	block, _ := pem.Decode(secret.Data["tls.crt"])
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cert.Verify(x509.VerifyOptions{DNSName: "pullguard.pullguard.svc", Roots: pool}); err != nil {
		t.Fatalf("the serving certificate does not verify for the Service: %v", err)
	}
}

// TestOpenShiftOverlayApplies applies the OpenShift overlay to a real kube-apiserver: every
// object validates and is stored.
func TestOpenShiftOverlayApplies(t *testing.T) {
	cluster, err := harness.StartCluster()
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Stop()
	stdout, stderr, err := cluster.Kubectl(context.Background(), "", "apply", "-k", overlay("openshift"))
	if err != nil {
		t.Fatalf("apply: %v\n%s%s", err, stdout, stderr)
	}
	for _, want := range []string{"namespace/pullguard created", "deployment.apps/pullguard created", "mutatingwebhookconfiguration.admissionregistration.k8s.io/pullguard created", "poddisruptionbudget.policy/pullguard created", "networkpolicy.networking.k8s.io/pullguard created",
		"priorityclass.scheduling.k8s.io/pullguard created", "configmap/pullguard-service-ca created"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("missing %q in:\n%s", want, stdout)
		}
	}
	got, err := cluster.Client.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(context.Background(), "pullguard", metav1.GetOptions{})
	if err != nil || len(got.Webhooks) != 2 {
		t.Fatalf("stored configuration: %v", err)
	}
}
