package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/go-logr/logr"
	admissionregv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/pullguard/pullguard/certs"
	"github.com/pullguard/pullguard/pkg/admission/server"
)

// Webhook is pullguard serving in this process against a Cluster, registered with the
// webhook configurations of deploy/base pointed at 127.0.0.1.
type Webhook struct {
	Server *server.Server
	// Port is the admission port; MetricsURL and HealthURL its other endpoints.
	Port       int
	MetricsURL string
	HealthURL  string

	cluster *Cluster
	opts    server.Options
	logs    *syncBuffer
	cancel  context.CancelFunc
	done    chan error
}

var setLoggerOnce sync.Once

// syncBuffer collects logs from many goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// StartWebhook generates a serving certificate for 127.0.0.1, starts pullguard with opts
// (addresses and certificate filled in; the admission port is kept if opts.BindAddress
// names one), registers it and waits until the API server calls it. Logs go to the
// webhook's buffer and, if not nil, to logTo.
func (c *Cluster) StartWebhook(ctx context.Context, opts server.Options, logTo io.Writer) (*Webhook, error) {
	bundle, err := certs.Generate("pullguard", []string{"127.0.0.1"}, 24*time.Hour)
	if err != nil {
		return nil, err
	}
	certDir := filepath.Join(c.Dir, "webhook-tls")
	if err := os.MkdirAll(certDir, 0o700); err != nil {
		return nil, err
	}
	opts.TLSCertFile, opts.TLSKeyFile = filepath.Join(certDir, "tls.crt"), filepath.Join(certDir, "tls.key")
	if err := errors.Join(os.WriteFile(opts.TLSCertFile, bundle.Cert, 0o600), os.WriteFile(opts.TLSKeyFile, bundle.Key, 0o600)); err != nil {
		return nil, err
	}
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	if opts.BindAddress != "" {
		// A port chosen beforehand, e.g. named in the API server's admission kubeconfig.
		_, port, err := net.SplitHostPort(opts.BindAddress)
		if err != nil {
			return nil, err
		}
		if ports[0], err = strconv.Atoi(port); err != nil {
			return nil, err
		}
	}
	opts.BindAddress = "127.0.0.1:" + strconv.Itoa(ports[0])
	opts.MetricsBindAddress = "127.0.0.1:" + strconv.Itoa(ports[1])
	opts.HealthProbeBindAddress = "127.0.0.1:" + strconv.Itoa(ports[2])
	opts.OwnNamespace = "pullguard"
	w := &Webhook{
		Port:       ports[0],
		MetricsURL: "http://" + opts.MetricsBindAddress + "/metrics",
		HealthURL:  "http://" + opts.HealthProbeBindAddress,
		cluster:    c,
		opts:       opts,
		logs:       &syncBuffer{},
	}
	var out io.Writer = w.logs
	if logTo != nil {
		out = io.MultiWriter(w.logs, logTo)
	}
	handler := slog.NewJSONHandler(out, &slog.HandlerOptions{Level: slog.LevelDebug})
	w.opts.Log = slog.New(handler)
	// controller-runtime logs through a global logger, as cmd/webhook sets it up.
	setLoggerOnce.Do(func() { ctrllog.SetLogger(logr.FromSlogHandler(handler)) })
	if err := w.Start(ctx); err != nil {
		return nil, err
	}
	if err := c.registerWebhooks(ctx, bundle.CACert, w.Port); err != nil {
		w.Stop()
		return nil, err
	}
	if err := c.waitForWebhook(ctx); err != nil {
		w.Stop()
		return nil, err
	}
	return w, nil
}

// Start runs the webhook (again, after Stop) and waits until it is ready.
func (w *Webhook) Start(ctx context.Context) error {
	srv, err := server.New(w.cluster.Config, w.opts)
	if err != nil {
		return err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	w.Server, w.cancel, w.done = srv, cancel, make(chan error, 1)
	go func() { w.done <- srv.Run(runCtx) }()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(w.HealthURL + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case err := <-w.done:
			return fmt.Errorf("webhook exited: %v", err)
		case <-ctx.Done():
			w.Stop()
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	w.Stop()
	return errors.New("webhook not ready within a minute")
}

// Stop shuts the webhook down gracefully and waits for it.
func (w *Webhook) Stop() error {
	if w.cancel == nil {
		return nil
	}
	w.Terminate()
	return w.Wait()
}

// Terminate tells the webhook to shut down, as SIGTERM does, and returns at once: with a
// drain delay it still answers reviews for that long.
func (w *Webhook) Terminate() {
	if w.cancel != nil {
		w.cancel()
	}
}

// Wait waits until the webhook told to Terminate has shut down.
func (w *Webhook) Wait() error {
	if w.cancel == nil {
		return nil
	}
	err := <-w.done
	w.cancel = nil
	return err
}

// Logs returns everything the webhook logged.
func (w *Webhook) Logs() string { return w.logs.String() }

// registerWebhooks applies deploy/base/webhooks.yaml with the clientConfig pointed at
// https://127.0.0.1:port and the test CA.
func (c *Cluster) registerWebhooks(ctx context.Context, caBundle []byte, port int) error {
	raw, err := os.ReadFile(filepath.Join(Root, "deploy", "base", "webhooks.yaml"))
	if err != nil {
		return err
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(raw), 4096)
	point := func(cc *admissionregv1.WebhookClientConfig) {
		url := fmt.Sprintf("https://127.0.0.1:%d%s", port, *cc.Service.Path)
		cc.URL, cc.Service, cc.CABundle = &url, nil, caBundle
	}
	api := c.Client.AdmissionregistrationV1()
	for {
		var tm metav1.TypeMeta
		var doc json.RawMessage
		if err := dec.Decode(&doc); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if err := json.Unmarshal(doc, &tm); err != nil {
			return err
		}
		switch tm.Kind {
		case "MutatingWebhookConfiguration":
			cfg := &admissionregv1.MutatingWebhookConfiguration{}
			if err := json.Unmarshal(doc, cfg); err != nil {
				return err
			}
			for i := range cfg.Webhooks {
				point(&cfg.Webhooks[i].ClientConfig)
			}
			err = replace(func() error {
				_, err := api.MutatingWebhookConfigurations().Create(ctx, cfg, metav1.CreateOptions{})
				return err
			},
				func() error { return api.MutatingWebhookConfigurations().Delete(ctx, cfg.Name, metav1.DeleteOptions{}) })
		case "ValidatingWebhookConfiguration":
			cfg := &admissionregv1.ValidatingWebhookConfiguration{}
			if err := json.Unmarshal(doc, cfg); err != nil {
				return err
			}
			for i := range cfg.Webhooks {
				point(&cfg.Webhooks[i].ClientConfig)
			}
			err = replace(func() error {
				_, err := api.ValidatingWebhookConfigurations().Create(ctx, cfg, metav1.CreateOptions{})
				return err
			},
				func() error {
					return api.ValidatingWebhookConfigurations().Delete(ctx, cfg.Name, metav1.DeleteOptions{})
				})
		}
		if err != nil {
			return err
		}
	}
}

// replace removes an object if it exists, then creates it anew.
func replace(create, remove func() error) error {
	if err := remove(); err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	return create()
}

// waitForWebhook waits until the API server calls pullguard: a dry-run pod in a probe
// namespace comes back with the probe secret injected.
func (c *Cluster) waitForWebhook(ctx context.Context) error {
	const ns = "pullguard-probe"
	core := c.Client.CoreV1()
	if _, err := core.Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	if err := c.EnsureServiceAccount(ctx, ns, "default"); err != nil {
		return err
	}
	// The probe registry is a closed loopback port: with --verify the probe is refused at
	// once (never a DNS lookup off the machine), the secret is attached unverified, and the
	// injection shows the webhook is called.
	secret := PullSecret(ns, "probe", probeRegistry, "probe", "not-a-real-password")
	if _, err := core.Secrets(ns).Create(ctx, secret, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "probe-"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "probe", Image: probeRegistry + "/pullguard/probe:1"}}},
	}
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		got, err := core.Pods(ns).Create(ctx, pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err == nil && len(got.Spec.ImagePullSecrets) > 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return errors.New("the API server did not call the webhook within a minute")
}

const probeRegistry = "127.0.0.1:1"

// EnsureServiceAccount creates a service account (no controller-manager runs here to
// create "default").
func (c *Cluster) EnsureServiceAccount(ctx context.Context, ns, name string, pullSecrets ...string) error {
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}
	for _, s := range pullSecrets {
		sa.ImagePullSecrets = append(sa.ImagePullSecrets, corev1.LocalObjectReference{Name: s})
	}
	_, err := c.Client.CoreV1().ServiceAccounts(ns).Create(ctx, sa, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

// FreePort returns a loopback port that was free a moment ago.
func FreePort() (int, error) {
	ports, err := freePorts(1)
	if err != nil {
		return 0, err
	}
	return ports[0], nil
}

func freePorts(n int) ([]int, error) {
	var ports []int
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		listeners = append(listeners, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
