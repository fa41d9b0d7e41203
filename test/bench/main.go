// Command bench measures pullguard against the floor (a no-op controller-runtime webhook
// that only decodes the Pod), in one run: it starts the test kube-apiserver, seeds 2,000
// namespaces with 5 pull secrets and one 16 KiB opaque secret each, runs both webhooks as
// processes, drives them alternately (A B A B ...) with 16 keep-alive HTTPS workers posting
// AdmissionReviews of a 3-container Pod that needs one injection, and prints throughput,
// latency, their ratios, pullguard's memory and its API requests during the load. Run it
// with `make bench`; docs/performance.md explains the method. -openshift-projects N adds
// the OpenShift scale of issue 12 (N projects, each with three service accounts and their
// dockercfg secrets, openshift.go) and prints time to ready and memory at rest and at peak.
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/pullguard/pullguard/certs"
	"github.com/pullguard/pullguard/internal/procmem"
	"github.com/pullguard/pullguard/test/harness"
)

var (
	namespaces = flag.Int("namespaces", 2000, "namespaces to seed")
	perNS      = flag.Int("pull-secrets", 5, "pull secrets per namespace")
	opaqueSize = flag.Int("opaque-bytes", 16<<10, "size of the one opaque secret per namespace")
	workers    = flag.Int("workers", 16, "concurrent keep-alive connections")
	phase      = flag.Duration("phase", 6*time.Second, "length of one measured phase")
	rounds     = flag.Int("rounds", 4, "A B rounds")
	profile    = flag.String("cpuprofile", "", "write a CPU profile of pullguard during its first phase to this file, and of the floor during its first to FILE.floor")
	memprofile = flag.String("memprofile", "", "write a heap profile of pullguard after the load to this file")
)

func main() {
	flag.Parse()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx := context.Background()
	fmt.Printf("machine: %s/%s, %d CPUs, %s; %s\n", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), cpuModel(), time.Now().UTC().Format("2006-01-02"))
	cluster, err := harness.StartCluster()
	if err != nil {
		return err
	}
	defer cluster.Stop()
	if err := seed(ctx, cluster.Config); err != nil {
		return err
	}
	if *openshiftProjects > 0 {
		if err := seedOpenShift(ctx, cluster.Config); err != nil {
			return err
		}
	}
	if err := seedMirrorSets(ctx, cluster.Config, *mirrorSets); err != nil {
		return err
	}

	dir := cluster.Dir
	bundle, err := certs.Generate("bench", []string{"127.0.0.1"}, 24*time.Hour)
	if err != nil {
		return err
	}
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	os.WriteFile(certFile, bundle.Cert, 0o600)
	os.WriteFile(keyFile, bundle.Key, 0o600)
	ports, err := freePorts(5)
	if err != nil {
		return err
	}
	pg := &target{name: "pullguard", url: fmt.Sprintf("https://127.0.0.1:%d/mutate", ports[0])}
	floor := &target{name: "floor", url: fmt.Sprintf("https://127.0.0.1:%d/mutate", ports[3])}
	metricsURL := fmt.Sprintf("http://127.0.0.1:%d", ports[1])

	start := time.Now()
	if err := resolveDeploymentFlags(); err != nil {
		return err
	}
	pgEnv := runtimeEnv()
	pgPath, pgArgs := filepath.Join(harness.Root, "bin", "webhook"), []string{"serve",
		"--kubeconfig", cluster.Kubeconfig, "--bind-address", fmt.Sprintf("127.0.0.1:%d", ports[0]),
		"--metrics-bind-address", fmt.Sprintf("127.0.0.1:%d", ports[1]), "--health-probe-bind-address", fmt.Sprintf("127.0.0.1:%d", ports[2]),
		"--tls-cert-file", certFile, "--tls-key-file", keyFile, "--verify=false", "--profiling", "--log-level", "warn"}
	if *mirrorSets > 0 {
		pgArgs = append(pgArgs, "--runtime=crio")
	}
	var cgroup *memCgroup
	if *memoryLimit != "" {
		if cgroup, err = newMemCgroup(*memoryLimit); err != nil {
			return err
		}
		defer cgroup.remove()
		pgPath, pgArgs = cgroup.command(pgPath, pgArgs)
	}
	pgCmd, err := startProcessEnv(pgEnv, pgPath, pgArgs...)
	if err != nil {
		return err
	}
	defer stopProcess(pgCmd)
	pg.pid = pgCmd.Process.Pid
	if cgroup != nil {
		cgroup.sample()
	}
	fmt.Printf("pullguard and the floor: GOMEMLIMIT=%s, GOGC=%s; pullguard's memory limit %s\n", orNone(*goMemLimit), orNone(*goGC), orNone(*memoryLimit))
	if err := waitReady(fmt.Sprintf("http://127.0.0.1:%d/readyz", ports[2]), 2*time.Minute); err != nil {
		return err
	}
	ready := time.Since(start)
	fmt.Printf("pullguard: caches synced in %s, %s resident after sync\n", ready.Round(10*time.Millisecond), mib(rss(pgCmd.Process.Pid, "VmRSS")))
	if *syncMemProfile != "" {
		if err := saveHeapProfile(metricsURL, false, *syncMemProfile); err != nil {
			return err
		}
	}
	time.Sleep(3 * time.Second)
	atRest, syncPeak := rss(pgCmd.Process.Pid, "VmRSS"), rss(pgCmd.Process.Pid, "VmHWM")
	fmt.Printf("pullguard: %s resident 3 s after ready, %s peak while the caches filled\n", mib(atRest), mib(syncPeak))
	if cgroup != nil {
		fmt.Printf("pullguard: %s\n", cgroup.report())
	}
	if *openshiftProjects > 0 {
		fmt.Printf("ready within 30 s: %s; peak resident memory under 256 MiB: %s\n", verdict(ready <= 30*time.Second), verdict(syncPeak < 256<<20))
	}
	floorCmd, err := startProcessEnv(runtimeEnv(), filepath.Join(harness.Root, "bin", "bench-floor"),
		"--bind-address", fmt.Sprintf("127.0.0.1:%d", ports[3]), "--tls-cert-file", certFile, "--tls-key-file", keyFile,
		"--profiling-address", fmt.Sprintf("127.0.0.1:%d", ports[4]))
	if err != nil {
		return err
	}
	defer stopProcess(floorCmd)
	floor.pid = floorCmd.Process.Pid

	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(bundle.CACert)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool}, MaxIdleConnsPerHost: *workers, MaxConnsPerHost: *workers, ForceAttemptHTTP2: false,
	}}
	if err := waitServing(client, floor.url); err != nil {
		return err
	}
	bodies := reviews()

	apiBefore, err := scrape(metricsURL + "/metrics")
	if err != nil {
		return err
	}
	// Warm both up (connections, caches, the Go runtime), then alternate A B.
	for _, t := range []*target{pg, floor} {
		load(client, t, bodies, time.Second, nil)
		t.reset()
	}
	for round := range *rounds {
		var prof *bytes.Buffer
		if round == 0 && *profile != "" {
			prof = &bytes.Buffer{}
		}
		load(client, pg, bodies, *phase, func() {
			if prof != nil {
				fetchProfile(metricsURL, *phase-time.Second, prof)
			}
		})
		if prof != nil {
			if err := os.WriteFile(*profile, prof.Bytes(), 0o644); err != nil {
				return err
			}
			prof.Reset()
		}
		load(client, floor, bodies, *phase, func() {
			if prof != nil {
				fetchProfile(fmt.Sprintf("http://127.0.0.1:%d", ports[4]), *phase-time.Second, prof)
			}
		})
		if prof != nil {
			if err := os.WriteFile(*profile+".floor", prof.Bytes(), 0o644); err != nil {
				return err
			}
		}
	}
	apiAfter, err := scrape(metricsURL + "/metrics")
	if err != nil {
		return err
	}

	heap, _ := scrapeMetric(metricsURL+"/metrics", "go_memstats_heap_inuse_bytes")
	report(pg, floor, apiAfter-apiBefore, rss(pgCmd.Process.Pid, "VmRSS"), rss(pgCmd.Process.Pid, "VmHWM"))
	fmt.Printf("pullguard heap in use after the load: %s\n", mib(int64(heap)))
	if cgroup != nil {
		r := cgroup.report()
		fmt.Printf("pullguard %s: %s\n", r, verdict(r.oomKills == 0 && pgCmd.ProcessState == nil))
	}
	if *memprofile != "" {
		if err := saveHeapProfile(metricsURL, true, *memprofile); err != nil {
			return err
		}
	}
	if *profile != "" {
		fmt.Printf("\nCPU profiles of the first phases: %s (go tool pprof -top bin/webhook %s), %s.floor (bin/bench-floor)\n", *profile, *profile, *profile)
	}
	return nil
}

// seed creates the namespaces and their secrets, 16 at a time.
func seed(ctx context.Context, cfg *rest.Config) error {
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = 5000, 5000
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	start := time.Now()
	opaque := bytes.Repeat([]byte("x"), *opaqueSize)
	err = inParallel(*namespaces, 500, "namespaces", start, func(i int) error {
		ns := nsName(i)
		if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			return err
		}
		for j := range *perNS {
			s := harness.PullSecret(ns, fmt.Sprintf("pull-%d", j), fmt.Sprintf("reg-%d.bench.test", j), "bench", "not-a-real-password")
			if _, err := cs.CoreV1().Secrets(ns).Create(ctx, s, metav1.CreateOptions{}); err != nil {
				return err
			}
		}
		big := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "app-config", Namespace: ns}, Data: map[string][]byte{"blob": opaque}}
		_, err := cs.CoreV1().Secrets(ns).Create(ctx, big, metav1.CreateOptions{})
		return err
	})
	if err != nil {
		return fmt.Errorf("seeding: %w", err)
	}
	fmt.Printf("seeded %d namespaces: %d pull secrets, %s of opaque secrets, in %s\n",
		*namespaces, *namespaces**perNS, mib(int64(*namespaces**opaqueSize)), time.Since(start).Round(time.Second))
	return nil
}

func nsName(i int) string { return fmt.Sprintf("bench-%04d", i) }

// reviews returns one AdmissionReview per namespace for a 3-container Pod: one image needs
// the namespace's pull-2 secret injected, two are public.
func reviews() [][]byte {
	out := make([][]byte, *namespaces)
	for i := range out {
		pod := corev1.Pod{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
			ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: nsName(i), Labels: map[string]string{"app": "web"}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{
				{Name: "app", Image: "reg-2.bench.test/team/app:1.4.2", Ports: []corev1.ContainerPort{{ContainerPort: 8080}}},
				{Name: "proxy", Image: "docker.io/library/nginx:1.27"},
				{Name: "metrics", Image: "quay.io/prometheus/node-exporter:v1.8.2"},
			}},
		}
		raw, _ := json.Marshal(pod)
		review := admissionv1.AdmissionReview{
			TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
			Request: &admissionv1.AdmissionRequest{
				UID: types.UID(fmt.Sprintf("uid-%d", i)), Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
				Resource:  metav1.GroupVersionResource(schema.GroupVersionResource{Version: "v1", Resource: "pods"}),
				Namespace: nsName(i), Name: "web", Operation: admissionv1.Create, Object: k8sruntime.RawExtension{Raw: raw},
			},
		}
		out[i], _ = json.Marshal(review)
	}
	return out
}

// target is a webhook under load and what it answered.
type target struct {
	name      string
	url       string
	mu        sync.Mutex
	latencies []time.Duration
	elapsed   time.Duration
	wrong     int64
	errors    int64

	pid               int           // the webhook's process, for its CPU time
	cpu, generatorCPU time.Duration // CPU time of the webhook and of this load generator in its phases
}

func (t *target) reset() {
	t.latencies, t.elapsed, t.wrong, t.errors, t.cpu, t.generatorCPU = nil, 0, 0, 0, 0, 0
}

const wantPatch = `[{"op":"add","path":"/spec/imagePullSecrets","value":[{"name":"pull-2"}]},{"op":"add","path":"/metadata/annotations","value":{"pullguard.io/injected":"pull-2"}}]`

// load drives a target for d with the workers; during runs alongside.
func load(client *http.Client, t *target, bodies [][]byte, d time.Duration, during func()) {
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	start := time.Now()
	cpuBefore, generatorBefore := processCPU(t.pid), processCPU(os.Getpid())
	for w := range *workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var lat []time.Duration
			var wrong, errs int64
			for i := w; time.Now().Before(deadline); i += *workers {
				body := bodies[i%len(bodies)]
				begin := time.Now()
				resp, err := client.Post(t.url, "application/json", bytes.NewReader(body))
				if err != nil {
					errs++
					continue
				}
				raw, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				lat = append(lat, time.Since(begin))
				if err != nil || !correct(t, raw) {
					wrong++
				}
			}
			t.mu.Lock()
			t.latencies = append(t.latencies, lat...)
			t.wrong += wrong
			t.errors += errs
			t.mu.Unlock()
		}()
	}
	if during != nil {
		during()
	}
	wg.Wait()
	t.mu.Lock()
	t.elapsed += time.Since(start)
	t.cpu += processCPU(t.pid) - cpuBefore
	t.generatorCPU += processCPU(os.Getpid()) - generatorBefore
	t.mu.Unlock()
}

// correct checks a response: allowed, and for pullguard patched with the one secret.
func correct(t *target, raw []byte) bool {
	var review admissionv1.AdmissionReview
	if json.Unmarshal(raw, &review) != nil || review.Response == nil || !review.Response.Allowed {
		return false
	}
	if t.name == "floor" {
		return true
	}
	return review.Response.PatchType != nil && string(review.Response.Patch) == wantPatch
}

func report(pg, floor *target, apiRequests float64, rssNow, rssPeak int64) {
	fmt.Printf("\n%-10s %9s %10s %9s %9s %9s %s\n", "target", "requests", "rps", "p50", "p99", "p99.9", "answers")
	stats := map[string][3]float64{}
	for _, t := range []*target{pg, floor} {
		slices.Sort(t.latencies)
		n := len(t.latencies)
		rps := float64(n) / t.elapsed.Seconds()
		p50, p99, p999 := pct(t.latencies, 0.50), pct(t.latencies, 0.99), pct(t.latencies, 0.999)
		answers := fmt.Sprintf("all %d correct", n)
		if t.wrong+t.errors > 0 {
			answers = fmt.Sprintf("%d WRONG, %d errors", t.wrong, t.errors)
		}
		if t.name == "pullguard" && t.wrong+t.errors == 0 {
			answers = fmt.Sprintf("all %d allowed and patched with pull-2", n)
		}
		fmt.Printf("%-10s %9d %10.0f %9s %9s %9s %s\n", t.name, n, rps, us(p50), us(p99), us(p999), answers)
		stats[t.name] = [3]float64{rps, float64(p50), float64(p99)}
	}
	fmt.Printf("CPU per review: pullguard %s, floor %s; the load generator %s beside pullguard, %s beside the floor\n",
		perReview(pg.cpu, len(pg.latencies)), perReview(floor.cpu, len(floor.latencies)),
		perReview(pg.generatorCPU, len(pg.latencies)), perReview(floor.generatorCPU, len(floor.latencies)))
	through := stats["pullguard"][0] / stats["floor"][0]
	p50r := stats["pullguard"][1] / stats["floor"][1]
	p99r := stats["pullguard"][2] / stats["floor"][2]
	fmt.Printf("\nthroughput %.2fx the floor (target >= 0.90x): %s\n", through, verdict(through >= 0.9))
	fmt.Printf("p50 %.2fx the floor; p99 %.2fx the floor (target <= 1.20x): %s\n", p50r, p99r, verdict(p99r <= 1.2))
	limit := int64(150 << 20)
	if *openshiftProjects > 0 {
		limit = 256 << 20
	}
	fmt.Printf("pullguard resident memory %s now, %s peak (target <= %s): %s\n", mib(rssNow), mib(rssPeak), mib(limit), verdict(rssPeak <= limit))
	fmt.Printf("API requests by pullguard during the load: %.0f (target 0): %s\n", apiRequests, verdict(apiRequests == 0))
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}

func pct(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(float64(len(sorted))*q))]
}

// processCPU returns the user and system CPU time a process has used (utime and stime of
// /proc/PID/stat, in clock ticks of 10 ms); 0 when it cannot be read.
func processCPU(pid int) time.Duration {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name may hold spaces; the fields after it are space-separated.
	_, rest, ok := strings.Cut(string(raw), ") ")
	if !ok {
		return 0
	}
	f := strings.Fields(rest)
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

func perReview(cpu time.Duration, n int) string {
	if n == 0 || cpu == 0 {
		return "?"
	}
	return us(cpu / time.Duration(n))
}

func us(d time.Duration) string { return fmt.Sprintf("%.0fus", float64(d)/float64(time.Microsecond)) }

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// rss reads a memory field (VmRSS, VmHWM) of a process, in bytes; -1 when it cannot.
func rss(pid int, field string) int64 {
	v, err := procmem.Field(pid, field)
	if err != nil {
		return -1
	}
	return int64(v)
}

func cpuModel() string {
	raw, _ := os.ReadFile("/proc/cpuinfo")
	for _, line := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(line, "model name") {
			_, v, _ := strings.Cut(line, ":")
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

// scrape returns pullguard_kube_api_requests_total.
func scrape(url string) (float64, error) {
	return scrapeMetric(url, "pullguard_kube_api_requests_total")
}

// scrapeMetric returns the value of an unlabelled metric.
func scrapeMetric(url, name string) (float64, error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return strconv.ParseFloat(v, 64)
		}
	}
	return 0, fmt.Errorf("no %s in %s", name, url)
}

// saveHeapProfile writes pullguard's heap profile, after a collection when gc is set.
func saveHeapProfile(metricsURL string, gc bool, path string) error {
	url := metricsURL + "/debug/pprof/heap"
	if gc {
		url += "?gc=1"
	}
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	io.Copy(&buf, resp.Body)
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		return err
	}
	fmt.Printf("heap profile: %s (go tool pprof -sample_index=alloc_space -top bin/webhook %s)\n", path, path)
	return nil
}

func fetchProfile(metricsURL string, d time.Duration, into *bytes.Buffer) {
	resp, err := http.Get(fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", metricsURL, int(d.Seconds())))
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench: profile:", err)
		return
	}
	defer resp.Body.Close()
	io.Copy(into, resp.Body)
}

// startProcessEnv starts a process with env added to this one's environment.
func startProcessEnv(env []string, path string, args ...string) (*exec.Cmd, error) {
	cmd := exec.Command(path, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: %w (run `make bench`, which builds it)", path, err)
	}
	return cmd, nil
}

func stopProcess(cmd *exec.Cmd) {
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()
}

func waitReady(url string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready within %s", url, limit)
}

func waitServing(client *http.Client, url string) error {
	for range 100 {
		if resp, err := client.Post(url, "application/json", strings.NewReader("{}")); err == nil {
			resp.Body.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s not serving", url)
}

func freePorts(n int) ([]int, error) {
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// inParallel runs seed for 0..n-1 on 16 workers, printing progress every `every` items; it
// returns the last error seen (seeding goes on, so one failure does not stall the others).
func inParallel(n, every int, what string, start time.Time, seed func(i int) error) error {
	work := make(chan int)
	var failed atomic.Value
	var done atomic.Int64
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				if err := seed(i); err != nil {
					failed.Store(err)
				}
				if d := done.Add(1); d%int64(every) == 0 {
					fmt.Printf("seeded %d/%d %s (%s)\n", d, n, what, time.Since(start).Round(time.Second))
				}
			}
		}()
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	if err, ok := failed.Load().(error); ok {
		return err
	}
	return nil
}
