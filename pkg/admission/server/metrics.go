package server

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promauto"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/pullguard/pullguard/pkg/admission/decision"
	"github.com/pullguard/pullguard/pkg/registryauth"
)

// Results of an admission request, the values of the result label.
const (
	resultAllowed = "allowed"
	resultPatched = "patched"
	resultWarned  = "warned"
	resultDenied  = "denied"
	resultError   = "error"
)

// knownKinds bounds the kind label; anything else is "other".
var knownKinds = map[string]bool{
	"Pod": true, "BuildConfig": true, "Deployment": true, "StatefulSet": true, "DaemonSet": true,
	"ReplicaSet": true, "Job": true, "CronJob": true, "DeploymentConfig": true,
}

// Metrics are pullguard's Prometheus metrics, on a registry of their own. Every label value
// comes from a fixed set: never an image, a namespace or a secret name. /metrics serves them
// beside controller-runtime's registry (Gatherer).
type Metrics struct {
	Registry *prometheus.Registry

	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	images   *prometheus.CounterVec
	probes   *prometheus.CounterVec
	probeDur prometheus.Histogram
	cache    *prometheus.CounterVec
	api      prometheus.Counter

	buildInfo *prometheus.GaugeVec

	byOutcome map[decision.Outcome]prometheus.Counter
}

// NewMetrics registers the metrics; cachedPullSecrets reports the size of the secret cache.
func NewMetrics(cachedPullSecrets func() int) *Metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	f := promauto.With(reg)
	m := &Metrics{
		Registry: reg,
		requests: f.NewCounterVec(prometheus.CounterOpts{
			Name: "pullguard_admission_requests_total",
			Help: "Admission requests by kind, operation and result (allowed, patched, warned, denied, error).",
		}, []string{"kind", "operation", "result"}),
		duration: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "pullguard_admission_duration_seconds",
			Help:    "Time to answer an admission request, by kind.",
			Buckets: []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5},
		}, []string{"kind"}),
		images: f.NewCounterVec(prometheus.CounterOpts{
			Name: "pullguard_images_total",
			Help: "Images decided, by outcome.",
		}, []string{"outcome"}),
	}
	m.probes = f.NewCounterVec(prometheus.CounterOpts{
		Name: "pullguard_registry_probes_total",
		Help: "Registry probes sent, by result (ok, unauthorized, forbidden, not_found, unavailable).",
	}, []string{"result"})
	m.probeDur = f.NewHistogram(prometheus.HistogramOpts{
		Name:    "pullguard_registry_probe_duration_seconds",
		Help:    "Time a registry took to answer a probe.",
		Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10},
	})
	m.cache = f.NewCounterVec(prometheus.CounterOpts{
		Name: "pullguard_registry_probe_cache_total",
		Help: "Registry probe lookups, by result (hit: answered from the cache, miss: sent or joined a probe).",
	}, []string{"result"})
	m.api = f.NewCounter(prometheus.CounterOpts{
		Name: "pullguard_kube_api_requests_total",
		Help: "Requests pullguard sent to the Kubernetes API server (lists, watches, the confirmation before a denial for a missing credential, and the internal registry's access reviews).",
	})
	for _, s := range registryauth.ProbeStatuses {
		m.probes.WithLabelValues(string(s))
	}
	m.cache.WithLabelValues("hit")
	m.cache.WithLabelValues("miss")
	m.buildInfo = f.NewGaugeVec(prometheus.GaugeOpts{
		Name: "pullguard_build_info",
		Help: "1, labelled with the version of the running pullguard.",
	}, []string{"version"})
	f.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "pullguard_cached_pull_secrets",
		Help: "Pull secrets held in the cache, across namespaces.",
	}, func() float64 { return float64(cachedPullSecrets()) })
	m.byOutcome = map[decision.Outcome]prometheus.Counter{}
	for _, o := range decision.Outcomes {
		m.byOutcome[o] = m.images.WithLabelValues(string(o))
	}
	return m
}

// SetVersion sets pullguard_build_info to the running version ("unknown" if empty).
func (m *Metrics) SetVersion(version string) {
	if version == "" {
		version = "unknown"
	}
	m.buildInfo.Reset()
	m.buildInfo.WithLabelValues(version).Set(1)
}

// Gatherer is what /metrics serves: pullguard's metrics, and controller-runtime's registry,
// which holds the admission endpoints' controller_runtime_webhook_* metrics, client-go's
// rest_client_requests_total and the serving certificate's certwatcher_* reads and errors.
func (m *Metrics) Gatherer() prometheus.Gatherer {
	return prometheus.Gatherers{m.Registry, ctrlmetrics.Registry}
}

func (m *Metrics) observe(kind, operation, result string, took time.Duration) {
	if !knownKinds[kind] {
		kind = "other"
	}
	switch operation {
	case "CREATE", "UPDATE", "DELETE", "CONNECT":
	default:
		operation = "other"
	}
	m.requests.WithLabelValues(kind, operation, result).Inc()
	m.duration.WithLabelValues(kind).Observe(took.Seconds())
}

// ObserveProbe records a registry probe.
func (m *Metrics) ObserveProbe(status registryauth.ProbeStatus, took time.Duration) {
	m.probes.WithLabelValues(string(status)).Inc()
	m.probeDur.Observe(took.Seconds())
}

// ObserveCache records a probe cache lookup.
func (m *Metrics) ObserveCache(hit bool) {
	if hit {
		m.cache.WithLabelValues("hit").Inc()
	} else {
		m.cache.WithLabelValues("miss").Inc()
	}
}

func (m *Metrics) countImages(d *decision.Decision) {
	for _, img := range d.Images {
		m.byOutcome[img.Outcome].Inc()
	}
}

// countRequests wraps a client transport to count API requests.
func (m *Metrics) countRequests(rt http.RoundTripper) http.RoundTripper {
	return countingTransport{rt: rt, count: m.api}
}

// countingTransport counts requests. It names the transport it wraps, so client-go can
// cancel a timed-out request through it (and does not log that it cannot).
type countingTransport struct {
	rt    http.RoundTripper
	count prometheus.Counter
}

func (t countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	t.count.Inc()
	return t.rt.RoundTrip(req)
}

func (t countingTransport) WrappedRoundTripper() http.RoundTripper { return t.rt }
