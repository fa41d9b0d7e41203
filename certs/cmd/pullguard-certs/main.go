// Command pullguard-certs writes a kustomize overlay with a self-made serving certificate for
// clusters with neither OpenShift's service-ca nor cert-manager:
//
//	go run ./certs/cmd/pullguard-certs --out deploy/overlays/self-signed
//	kubectl apply -k deploy/overlays/self-signed
//
// The overlay holds a private key; deploy/overlays/self-signed is gitignored.
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/pullguard/pullguard/certs"
)

func main() {
	var o certs.OverlayOptions
	flag.StringVar(&o.Dir, "out", "deploy/overlays/self-signed", "overlay `directory` to write")
	flag.StringVar(&o.Base, "base", "deploy/base", "kustomize base `directory`")
	flag.StringVar(&o.Service, "service", "pullguard", "the webhook's Service `name`")
	flag.StringVar(&o.Namespace, "namespace", "pullguard", "the Service's `namespace`")
	flag.StringVar(&o.SecretName, "secret", "pullguard-tls", "TLS secret `name` the Deployment mounts")
	flag.DurationVar(&o.ValidFor, "valid-for", 365*24*time.Hour, "certificate lifetime")
	flag.Parse()
	if err := certs.WriteOverlay(o); err != nil {
		fmt.Fprintln(os.Stderr, "pullguard-certs:", err)
		os.Exit(1)
	}
	fmt.Printf("wrote %s: apply it with 'kubectl apply -k %s'\n", o.Dir, o.Dir)
}
