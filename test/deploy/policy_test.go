package deploy

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	admissionregv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/pullguard/pullguard/test/harness"
)

// assertSplit checks, for namespaces with every combination of the two labels, which
// mutating entry the API server sends them to: exactly one, and the one whose failure
// policy matches the namespace's (unlabelled or invalid: defaultPolicy); none for
// pullguard.io/mode=off.
func assertSplit(t *testing.T, m *admissionregv1.MutatingWebhookConfiguration, defaultPolicy admissionregv1.FailurePolicyType) {
	t.Helper()
	for _, failure := range []string{"", "open", "closed", "bogus"} {
		for _, mode := range []string{"", "enforce", "warn", "off"} {
			set := labels.Set{"kubernetes.io/metadata.name": "team-a"}
			if failure != "" {
				set["pullguard.io/failure-policy"] = failure
			}
			if mode != "" {
				set["pullguard.io/mode"] = mode
			}
			var got []admissionregv1.FailurePolicyType
			for _, w := range m.Webhooks {
				sel, err := metav1.LabelSelectorAsSelector(w.NamespaceSelector)
				if err != nil {
					t.Fatalf("%s: %v", w.Name, err)
				}
				if sel.Matches(set) {
					got = append(got, *w.FailurePolicy)
				}
			}
			want := []admissionregv1.FailurePolicyType{defaultPolicy}
			switch {
			case mode == "off":
				want = nil
			case failure == "open":
				want = []admissionregv1.FailurePolicyType{admissionregv1.Ignore}
			case failure == "closed":
				want = []admissionregv1.FailurePolicyType{admissionregv1.Fail}
			}
			if !slices.Equal(got, want) {
				t.Errorf("namespace labelled %v goes to entries with failure policies %v, want %v", set, got, want)
			}
		}
	}
}

// withComponents renders a kustomization of base (an overlay) plus components.
func withComponents(t *testing.T, base string, components ...string) *rendered {
	t.Helper()
	dir := t.TempDir()
	rel := func(p string) string {
		r, err := filepath.Rel(dir, p)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	k := "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- " + rel(base) + "\ncomponents:\n"
	for _, c := range components {
		k += "- " + rel(filepath.Join(harness.Root, "deploy", "components", c)) + "\n"
	}
	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(k), 0o600); err != nil {
		t.Fatal(err)
	}
	return render(t, dir)
}

// TestFailClosedComponent: --default-failure-policy=closed reaches the webhook
// configurations, so a dead webhook fails closed for unlabelled namespaces too.
func TestFailClosedComponent(t *testing.T) {
	for _, name := range []string{"openshift", "kubernetes"} {
		t.Run(name, func(t *testing.T) {
			r := withComponents(t, overlay(name), "fail-closed")
			m := one[admissionregv1.MutatingWebhookConfiguration](t, r, "MutatingWebhookConfiguration")
			assertSplit(t, m, admissionregv1.Fail)
			for _, w := range m.Webhooks {
				if !slices.Contains(excludedNames(w.NamespaceSelector), "pullguard") {
					t.Errorf("%s lost its exclusions", w.Name)
				}
			}
			v := one[admissionregv1.ValidatingWebhookConfiguration](t, r, "ValidatingWebhookConfiguration")
			if *v.Webhooks[0].FailurePolicy != admissionregv1.Ignore {
				t.Error("workloads are only warned about: the validating entry stays Ignore")
			}
			dep := one[appsv1.Deployment](t, r, "Deployment")
			if !slices.Contains(dep.Spec.Template.Spec.Containers[0].Args, "--default-failure-policy=closed") {
				t.Errorf("the handler must fail closed too: args %q", dep.Spec.Template.Spec.Containers[0].Args)
			}
		})
	}
}

// TestResourcesAndPriority: memory sized with GOMEMLIMIT below the limit, a CPU request,
// a priority class of pullguard's own, and a grace period that covers the drain.
func TestResourcesAndPriority(t *testing.T) {
	for _, name := range []string{"openshift", "kubernetes"} {
		t.Run(name, func(t *testing.T) {
			r := render(t, overlay(name))
			dep := one[appsv1.Deployment](t, r, "Deployment")
			spec := dep.Spec.Template.Spec
			c := spec.Containers[0]
			res := c.Resources
			if !res.Requests.Memory().Equal(resource.MustParse("128Mi")) || !res.Limits.Memory().Equal(resource.MustParse("256Mi")) {
				t.Errorf("memory request/limit = %s/%s, want 128Mi/256Mi", res.Requests.Memory(), res.Limits.Memory())
			}
			if res.Requests.Cpu().MilliValue() < 100 || !res.Limits.Cpu().IsZero() {
				t.Errorf("cpu request %s (want at least 100m), limit %s (want none: no throttling)", res.Requests.Cpu(), res.Limits.Cpu())
			}
			limit := float64(res.Limits.Memory().Value())
			var gomemlimit string
			for _, e := range c.Env {
				if e.Name == "GOMEMLIMIT" {
					gomemlimit = e.Value
				}
			}
			q, err := resource.ParseQuantity(strings.TrimSuffix(gomemlimit, "B"))
			if err != nil {
				t.Fatalf("GOMEMLIMIT %q: %v", gomemlimit, err)
			}
			if ratio := float64(q.Value()) / limit; ratio < 0.80 || ratio > 0.90 {
				t.Errorf("GOMEMLIMIT %s is %.0f%% of the memory limit, want about 85%%", gomemlimit, 100*ratio)
			}

			pc := one[schedulingv1.PriorityClass](t, r, "PriorityClass")
			if spec.PriorityClassName != pc.Name || pc.GlobalDefault || pc.Value <= 0 || pc.Value > 1_000_000_000 {
				t.Errorf("priority class %q, shipped %s = %d (global default %v): want the shipped one, positive, at most the highest non-system value", spec.PriorityClassName, pc.Name, pc.Value, pc.GlobalDefault)
			}

			// The drain delay (10s by default) plus the longest a review in flight may take
			// (the admission port's write timeout: --verify-timeout 3s + 10s).
			drain, inFlight := int64(10), int64(13)
			if spec.TerminationGracePeriodSeconds == nil || *spec.TerminationGracePeriodSeconds < drain+inFlight {
				t.Errorf("terminationGracePeriodSeconds %v does not cover the drain (%ds) and reviews in flight (%ds)", spec.TerminationGracePeriodSeconds, drain, inFlight)
			}
		})
	}
}

// TestNetworkPolicy: monitoring alone scrapes metrics; on OpenShift only the kube-apiserver
// (host-network traffic) reaches the admission port.
func TestNetworkPolicy(t *testing.T) {
	webhookRules := func(np *networkingv1.NetworkPolicy) []networkingv1.NetworkPolicyIngressRule {
		var rules []networkingv1.NetworkPolicyIngressRule
		for _, rule := range np.Spec.Ingress {
			for _, p := range rule.Ports {
				if p.Port != nil && p.Port.String() == "webhook" {
					rules = append(rules, rule)
				}
			}
		}
		return rules
	}
	for _, name := range []string{"openshift", "kubernetes"} {
		t.Run(name, func(t *testing.T) {
			r := render(t, overlay(name))
			np := one[networkingv1.NetworkPolicy](t, r, "NetworkPolicy")
			if !slices.Equal(np.Spec.PolicyTypes, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}) {
				t.Errorf("policy types %v", np.Spec.PolicyTypes)
			}
			for _, rule := range np.Spec.Ingress {
				for _, p := range rule.Ports {
					if p.Port.String() == "metrics" && len(rule.From) == 0 {
						t.Error("metrics must be open to the monitoring namespaces only")
					}
				}
			}
			rules := webhookRules(np)
			if len(rules) != 1 {
				t.Fatalf("want one rule for the admission port, got %d", len(rules))
			}
			if name != "openshift" {
				return
			}
			var selected []string
			for _, peer := range rules[0].From {
				if peer.NamespaceSelector == nil || peer.PodSelector != nil || peer.IPBlock != nil {
					t.Errorf("unexpected peer %+v", peer)
					continue
				}
				for k, v := range peer.NamespaceSelector.MatchLabels {
					selected = append(selected, k+"="+v)
				}
			}
			slices.Sort(selected)
			want := []string{"kubernetes.io/metadata.name=openshift-kube-apiserver", "policy-group.network.openshift.io/host-network="}
			if !slices.Equal(selected, want) {
				t.Errorf("the admission port admits %q, want only the kube-apiserver %q", selected, want)
			}
		})
	}
}

// TestOpenShiftTrustsTheServiceCA: registry probes trust the service CA, which signs the
// internal registry's certificate, from a ConfigMap the operator fills, mounted read-only.
func TestOpenShiftTrustsTheServiceCA(t *testing.T) {
	r := render(t, overlay("openshift"))
	var bundle *corev1.ConfigMap
	for _, raw := range r.docs["ConfigMap"] {
		cm := &corev1.ConfigMap{}
		if err := json.Unmarshal(raw, cm); err != nil {
			t.Fatal(err)
		}
		if cm.Annotations["service.beta.openshift.io/inject-cabundle"] == "true" {
			bundle = cm
		}
	}
	if bundle == nil {
		t.Fatal("want a ConfigMap annotated service.beta.openshift.io/inject-cabundle")
	}
	dep := one[appsv1.Deployment](t, r, "Deployment")
	spec := dep.Spec.Template.Spec
	var volume string
	for _, v := range spec.Volumes {
		if v.ConfigMap != nil && v.ConfigMap.Name == bundle.Name {
			if len(v.ConfigMap.Items) != 1 || v.ConfigMap.Items[0].Key != "service-ca.crt" || v.ConfigMap.Optional != nil && *v.ConfigMap.Optional {
				t.Errorf("the volume must name the key service-ca.crt, not optional: %+v", v.ConfigMap)
			}
			volume = v.Name
		}
	}
	if volume == "" {
		t.Fatalf("no volume from ConfigMap %s", bundle.Name)
	}
	c := spec.Containers[0]
	var file string
	for _, m := range c.VolumeMounts {
		if m.Name == volume {
			if !m.ReadOnly {
				t.Error("the service CA must be mounted read-only")
			}
			file = filepath.Join(m.MountPath, "service-ca.crt")
		}
	}
	if want := "--registry-ca-file=" + file; file == "" || !slices.Contains(c.Args, want) {
		t.Errorf("args %q lack %s", c.Args, want)
	}
}
