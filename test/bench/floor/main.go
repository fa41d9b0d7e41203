// Command floor is the benchmark's floor: controller-runtime's webhook server with the same
// TLS settings as pullguard, whose handler only decodes the Pod and allows it. Nothing that
// reviews pods can be faster through the same server stack.
package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

func main() {
	addr := flag.String("bind-address", "127.0.0.1:9443", "HTTPS address")
	cert := flag.String("tls-cert-file", "", "serving certificate")
	key := flag.String("tls-key-file", "", "serving key")
	profiling := flag.String("profiling-address", "", "serve /debug/pprof on this address (the bench's -cpuprofile profiles the floor too)")
	flag.Parse()
	ctrllog.SetLogger(logr.Discard())
	if *profiling != "" {
		go http.ListenAndServe(*profiling, nil) // net/http/pprof registers on the default mux
	}
	host, p, err := net.SplitHostPort(*addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		os.Exit(2)
	}
	port, _ := strconv.Atoi(p)
	srv := webhook.NewServer(webhook.Options{
		Host: host, Port: port,
		CertDir: filepath.Dir(*cert), CertName: filepath.Base(*cert), KeyName: filepath.Base(*key),
		TLSOpts: []func(*tls.Config){func(c *tls.Config) { c.MinVersion = tls.VersionTLS12; c.NextProtos = []string{"http/1.1"} }},
	})
	srv.Register("/mutate", &admission.Webhook{Handler: admission.HandlerFunc(func(_ context.Context, req admission.Request) admission.Response {
		var pod corev1.Pod
		if err := json.Unmarshal(req.Object.Raw, &pod); err != nil {
			return admission.Errored(http.StatusBadRequest, err)
		}
		return admission.Allowed("")
	})})
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := srv.Start(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		os.Exit(1)
	}
}
