package decision

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/pullguard/pullguard/pkg/registryauth"
)

// BenchmarkPod resolves a 3-container pod (one image covered by its own secret, one needing
// an injection, one public) in namespaces of growing size. The index is built once, as the
// webhook builds it once per change of the namespace's secrets.
func BenchmarkPod(b *testing.B) {
	for _, n := range []int{10, 1000, 10000} {
		b.Run(fmt.Sprintf("secrets=%d", n), func(b *testing.B) {
			secrets := make([]ns, 0, n)
			for i := range n - 2 {
				secrets = append(secrets, ns{name: fmt.Sprintf("team-%05d", i), keys: []string{fmt.Sprintf("reg-%d.example.com", i), fmt.Sprintf("quay.io/team-%d", i)}})
			}
			secrets = append(secrets, ns{name: "ghcr", keys: []string{"ghcr.io"}}, ns{name: "quay-acme", keys: []string{"quay.io/acme"}})
			f := &Facts{Namespace: "bench", Secrets: index(secrets), ServiceAccountApplied: true}
			pod := &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "bench"},
				Spec: corev1.PodSpec{
					ImagePullSecrets: []corev1.LocalObjectReference{{Name: "ghcr"}},
					Containers: []corev1.Container{
						{Name: "a", Image: "ghcr.io/acme/a:1"},
						{Name: "b", Image: "quay.io/acme/b:2"},
						{Name: "c", Image: "nginx:1.27"},
					},
				},
			}
			if d := Pod(pod, f); d.Count(Covered) != 1 || d.Count(Injected) != 1 || d.Count(Anonymous) != 1 {
				b.Fatalf("unexpected decision: %s", messages(d))
			}
			b.ReportAllocs()
			for b.Loop() {
				Pod(pod, f)
			}
		})
	}
}

// BenchmarkSecretIndex measures building a namespace's index, paid once per change.
func BenchmarkSecretIndex(b *testing.B) {
	parsed := make([]*registryauth.PullSecret, 1000)
	for i := range parsed {
		parsed[i] = ns{name: fmt.Sprintf("s-%d", i), keys: []string{fmt.Sprintf("reg-%d.example.com", i)}}.parse()
	}
	b.ReportAllocs()
	for b.Loop() {
		registryauth.NewSecretIndex(parsed)
	}
}
