package state

import (
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/pullguard/pullguard/internal/procmem"
	"github.com/pullguard/pullguard/pkg/admission/decision"
	"github.com/pullguard/pullguard/pkg/registryauth"
)

// hostileSecret is the largest pull secret a tenant can store (the API server caps a secret
// at 1 MiB): a .dockerconfigjson of 100,000 short keys, 976 KiB.
func hostileSecret(ns, name string, seed int) *corev1.Secret {
	var b strings.Builder
	b.Grow(1 << 20)
	b.WriteString(`{"auths":{`)
	for i := range 100_000 {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"%04s":{}`, strconv.FormatInt(int64(seed*100_000+i)%(36*36*36*36), 36))
	}
	b.WriteString(`}}`)
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, ResourceVersion: strconv.Itoa(100 + seed)},
		Type:       corev1.SecretTypeDockerConfigJson,
		Data:       map[string][]byte{corev1.DockerConfigJsonKey: []byte(b.String())},
	}
}

// TestHostileSecretsMemory loads 15 hostile secrets over 3 namespaces through the sink as the
// reflector's streamed initial list does, and checks that the cache holds at most 8 times
// their size (issue 11 measured 18 times); it prints the live heap, the process's peak
// resident memory, and how long ordinary reviews and near-miss explanations take beside
// them (measured, not asserted).
func TestHostileSecretsMemory(t *testing.T) {
	store := newSecretStore()
	sink := newSecretSink(store)
	before := liveHeap()
	var items []any
	size := 0
	for i := range 15 {
		ns := fmt.Sprintf("tenant-%d", i%3)
		s := hostileSecret(ns, fmt.Sprintf("hostile-%d", i), i)
		size += len(s.Data[corev1.DockerConfigJsonKey])
		obj, err := sink.Transformer()(s)
		if err != nil {
			t.Fatal(err)
		}
		items = append(items, obj)
	}
	for i := range 3 {
		items = append(items, secretAt(fmt.Sprintf("tenant-%d", i), "ordinary", "1", "a.example.com"))
	}
	if err := sink.Replace(items, "200"); err != nil {
		t.Fatal(err)
	}
	items = nil
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "tenant-0"}, Spec: corev1.PodSpec{Containers: []corev1.Container{
		{Name: "app", Image: "a.example.com/team/app:1"}, {Name: "proxy", Image: "docker.io/library/nginx:1.27"}, {Name: "m", Image: "quay.io/prom/node-exporter:v1"},
	}}}
	many := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "many", Namespace: "tenant-0"}}
	for i := range 50 {
		many.Spec.Containers = append(many.Spec.Containers, corev1.Container{Name: fmt.Sprintf("c%d", i), Image: fmt.Sprintf("r%d.private.test/app:%d", i, i)})
	}
	facts := func(ns string) *decision.Facts {
		return &decision.Facts{Namespace: ns, Secrets: store.index(ns), ServiceAccountApplied: true, FailureMessagesOnly: true, PrivateRegistries: mustPatterns(t, "*.private.test")}
	}
	for i := range 3 { // build every namespace's index, as reviews do
		decision.Pod(pod, facts(fmt.Sprintf("tenant-%d", i)))
	}
	live := liveHeap() - before
	runtime.KeepAlive(store)
	t.Logf("15 secrets of %d KiB (%d MiB): %d MiB live in the cache, %.1fx their size; peak resident memory of this test process %d MiB",
		size/15>>10, size>>20, live>>20, float64(live)/float64(size), peakRSS()>>20)
	if live > 8*uint64(size) {
		t.Errorf("the cache holds %.1fx the secrets' size; the bound is 8x", float64(live)/float64(size))
	}

	start := time.Now()
	const reviews = 200
	for range reviews {
		if d := decision.Pod(pod, facts("tenant-0")); d.Count(decision.Injected) != 1 {
			t.Fatalf("ordinary review: %+v", d.Images)
		}
	}
	t.Logf("ordinary review beside 5 hostile secrets: %s each", time.Since(start)/reviews)
	start = time.Now()
	d := decision.Pod(many, facts("tenant-0"))
	if d.Count(decision.Missing) != 50 {
		t.Fatalf("want 50 missing images, got %+v", d.Images[0])
	}
	t.Logf("50 missing images explained against 5 hostile secrets: %s", time.Since(start))
}

func mustPatterns(t *testing.T, list string) registryauth.Patterns {
	p, err := registryauth.ParsePatterns(list)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func liveHeap() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// peakRSS reads the process's peak resident memory (VmHWM); 0 when /proc cannot say.
func peakRSS() uint64 {
	peak, _ := procmem.PeakRSS()
	return peak
}
