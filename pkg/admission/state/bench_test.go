package state

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/pullguard/pullguard/pkg/admission/decision"
	"github.com/pullguard/pullguard/pkg/registryauth"
)

// BenchmarkResolve measures a review's resolution from the cache: the namespace's index and
// the decision for a 3-container pod needing one injection, with 1, 100 and 10,000 pull
// secrets in the namespace and 10,000 more in other namespaces. The cost must not depend on
// the other namespaces.
func BenchmarkResolve(b *testing.B) {
	for _, n := range []int{1, 100, 10000} {
		b.Run(fmt.Sprintf("namespace=%d/others=10000", n), func(b *testing.B) {
			store := newSecretStore()
			for i := range 10000 {
				store.put(fmt.Sprintf("other-%d", i%2000), fmt.Sprintf("s-%d", i), "1", pullSecret(fmt.Sprintf("s-%d", i), fmt.Sprintf("reg-%d.example.com", i%7)), nil)
			}
			for i := range n - 1 {
				store.put("bench", fmt.Sprintf("team-%05d", i), "1", pullSecret(fmt.Sprintf("team-%05d", i), fmt.Sprintf("reg-%d.bench.test", i+10)), nil)
			}
			store.put("bench", "acme", "1", pullSecret("acme", "reg-2.bench.test"), nil)
			pod := &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "bench"},
				Spec: corev1.PodSpec{Containers: []corev1.Container{
					{Name: "app", Image: "reg-2.bench.test/team/app:1.4.2"},
					{Name: "proxy", Image: "docker.io/library/nginx:1.27"},
					{Name: "metrics", Image: "quay.io/prometheus/node-exporter:v1.8.2"},
				}},
			}
			facts := func() *decision.Facts {
				return &decision.Facts{Namespace: "bench", Secrets: store.index("bench"), ServiceAccountApplied: true, FailureMessagesOnly: true}
			}
			if d := decision.Pod(pod, facts()); d.Count(decision.Injected) != 1 {
				b.Fatalf("unexpected decision %+v", d.Images)
			}
			b.ReportAllocs()
			for b.Loop() {
				decision.Pod(pod, facts())
			}
		})
	}
}

func pullSecret(name, registry string) *registryauth.PullSecret {
	return registryauth.ParseSecret(name, registryauth.TypeDockerConfigJSON, map[string][]byte{
		registryauth.KeyDockerConfigJSON: fmt.Appendf(nil, `{"auths":{%q:{"auth":"dTpw"}}}`, registry),
	})
}
