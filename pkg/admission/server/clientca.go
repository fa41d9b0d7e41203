package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"time"
)

// clientCAPollInterval is how often --client-ca-file is re-read: the interval
// controller-runtime's certwatcher polls the serving certificate at, and a mounted
// ConfigMap or Secret changes by an atomic swap that a poll always sees.
const clientCAPollInterval = 10 * time.Second

// clientCAs requires admission clients to present a certificate that chains to the CAs
// of --client-ca-file (the API server's webhook client certificate), and follows the file
// when it changes. Each handshake gets the TLS configuration built for the bundle of the
// moment.
type clientCAs struct {
	path string
	log  *slog.Logger
	base *tls.Config

	raw    []byte
	config atomic.Pointer[tls.Config]
}

// newClientCAs reads path once; a file that is missing or holds no certificate is an
// error, because a port that no certificate can open refuses the API server too.
func newClientCAs(path string, base *tls.Config, log *slog.Logger) (*clientCAs, error) {
	c := &clientCAs{path: path, base: base, log: log}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--client-ca-file: %w", err)
	}
	if err := c.load(raw); err != nil {
		return nil, fmt.Errorf("--client-ca-file %s: %w", path, err)
	}
	return c, nil
}

func (c *clientCAs) load(raw []byte) error {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(raw) {
		return fmt.Errorf("no PEM certificate found")
	}
	cfg := c.base.Clone()
	cfg.ClientAuth = tls.RequireAndVerifyClientCert
	cfg.ClientCAs = pool
	// A resumed session skips the client certificate; without tickets every connection
	// is checked against the bundle of now, also after a CA is removed from it.
	cfg.SessionTicketsDisabled = true
	c.raw = raw
	c.config.Store(cfg)
	return nil
}

// forClient is the tls.Config GetConfigForClient hook.
func (c *clientCAs) forClient(*tls.ClientHelloInfo) (*tls.Config, error) {
	return c.config.Load(), nil
}

// watch re-reads the file until ctx ends. A file that disappears or stops parsing keeps
// the last good bundle in force, with an error in the log.
func (c *clientCAs) watch(ctx context.Context) {
	t := time.NewTicker(clientCAPollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		raw, err := os.ReadFile(c.path)
		if err == nil && bytes.Equal(raw, c.raw) {
			continue
		}
		if err == nil {
			err = c.load(raw)
		}
		if err != nil {
			c.log.Error("client CA bundle not reloaded; the previous one stays in force", "file", c.path, "error", err.Error())
			continue
		}
		c.log.Info("client CA bundle reloaded", "file", c.path)
	}
}
