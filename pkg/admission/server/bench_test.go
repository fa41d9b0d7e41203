package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/pullguard/pullguard/pkg/admission/decision"
	"github.com/pullguard/pullguard/pkg/registryauth"
)

// staticFacts serves one namespace's facts from memory, to measure the handler alone.
type staticFacts struct{ index *registryauth.SecretIndex }

func (s staticFacts) Synced() bool { return true }
func (s staticFacts) Facts(ns string) *decision.Facts {
	return &decision.Facts{Namespace: ns, Secrets: s.index, ServiceAccountApplied: true}
}
func (s staticFacts) Policy(string) decision.Policy {
	return decision.Policy{Mode: decision.Enforce, FailurePolicy: decision.FailOpen}
}
func (s staticFacts) Refresh(context.Context, string) (bool, error) { return false, nil }

func benchRequest(b *testing.B) admission.Request {
	pod := corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "bench", Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{
			{Name: "app", Image: "reg-2.bench.test/team/app:1.4.2", Ports: []corev1.ContainerPort{{ContainerPort: 8080}}},
			{Name: "proxy", Image: "docker.io/library/nginx:1.27"},
			{Name: "metrics", Image: "quay.io/prometheus/node-exporter:v1.8.2"},
		}},
	}
	raw, err := json.Marshal(pod)
	if err != nil {
		b.Fatal(err)
	}
	return admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		UID: "u", Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Pod"}, Namespace: "bench", Operation: admissionv1.Create,
		Object: runtime.RawExtension{Raw: raw},
	}}
}

// BenchmarkHandle measures pullguard's handler for the load test's pod, beside what the
// floor's handler does (decode the whole Pod): the difference is pullguard's own cost.
func BenchmarkHandle(b *testing.B) {
	var secrets []*registryauth.PullSecret
	for i := range 5 {
		secrets = append(secrets, registryauth.ParseSecret(fmt.Sprintf("pull-%d", i), registryauth.TypeDockerConfigJSON,
			map[string][]byte{registryauth.KeyDockerConfigJSON: fmt.Appendf(nil, `{"auths":{"reg-%d.bench.test":{"auth":"dTpw"}}}`, i)}))
	}
	h := &Handler{State: staticFacts{registryauth.NewSecretIndex(secrets)}, Metrics: NewMetrics(func() int { return 0 }), Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	req := benchRequest(b)
	b.Run("pullguard", func(b *testing.B) {
		if resp := h.Handle(context.Background(), req); !strings.Contains(string(resp.Patch), "pullguard.io/injected") {
			b.Fatalf("response %+v", resp)
		}
		b.ReportAllocs()
		for b.Loop() {
			resp := h.Handle(context.Background(), req)
			if err := resp.Complete(req); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("floor", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var pod corev1.Pod
			if err := json.Unmarshal(req.Object.Raw, &pod); err != nil {
				b.Fatal(err)
			}
			resp := admission.Allowed("")
			if err := resp.Complete(req); err != nil {
				b.Fatal(err)
			}
		}
	})
}
