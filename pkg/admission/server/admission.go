package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// Limits of the admission port. The API server writes a review in one go as soon as it
// has a connection and gives up after the webhook's timeoutSeconds (5 s in deploy/), so a
// peer slower than that is not the API server doing its job.
const (
	// readHeaderTimeout bounds the TLS handshake and the request headers (net/http takes
	// the smallest of its timeouts for the handshake).
	readHeaderTimeout = 5 * time.Second
	// readSlack is added to --verify-timeout for ReadTimeout, which covers the whole
	// request, body included. It must also outlast the review itself: net/http cancels a
	// request's context when the read deadline passes while its handler still runs.
	readSlack = 5 * time.Second
	// writeSlack is added to ReadTimeout for WriteTimeout, counted from the headers: a
	// review's answer is written well within it, or the API server stopped waiting long ago.
	writeSlack = 5 * time.Second
	// idleTimeout outlasts the API server's own idle timeout for keep-alive connections
	// (90 s, client-go's default transport), so it is the API server that retires an idle
	// connection: a review sent down a connection pullguard has just closed would fail,
	// and fail closed in namespaces labelled closed.
	idleTimeout = 120 * time.Second
	// maxHeaderBytes: the API server sends a handful of short headers. Request bodies are
	// capped by controller-runtime's admission.Webhook at 7 MiB (its maxRequestSize: an
	// object of at most 3 MiB, twice for an UPDATE, and the review around them).
	maxHeaderBytes = 64 << 10
)

// ConnectionTimeouts returns the admission port's ReadTimeout and WriteTimeout for reviews
// that take at most verifyTimeout of registry probing: with the default 3s, 8s and 13s. A
// connection that sends headers and then nothing is closed ReadTimeout after its headers.
func ConnectionTimeouts(verifyTimeout time.Duration) (read, write time.Duration) {
	read = verifyTimeout + readSlack
	return read, read + writeSlack
}

// newAdmissionServer is net/http's server with the limits above. controller-runtime's
// webhook.Server (v0.25.2) builds its http.Server internally with a 32 s header timeout,
// a 90 s idle timeout and no read or write deadline, and offers no option to change them;
// pullguard keeps the framework's admission.Webhook handlers (body limit, panic recovery,
// UID, content type) and serves them itself.
func newAdmissionServer(h http.Handler, cfg *tls.Config, verifyTimeout time.Duration, http2 bool, log *slog.Logger) *http.Server {
	read, write := ConnectionTimeouts(verifyTimeout)
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetHTTP2(http2)
	return &http.Server{
		Handler:           h,
		TLSConfig:         cfg,
		Protocols:         &protocols,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       read,
		WriteTimeout:      write,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		// TLS handshake failures (a client without a certificate, a port scan) are one
		// line each, at debug level: whoever can open a connection can otherwise fill
		// the log.
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
}

// serveAdmission serves on ln until ctx ends, then shuts down gracefully: the listener
// closes, idle connections close, and reviews in flight are answered, for at most the
// write timeout (no review outlives it).
func serveAdmission(ctx context.Context, srv *http.Server, ln net.Listener) error {
	served := make(chan error, 1)
	go func() { served <- srv.ServeTLS(ln, "", "") }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), srv.WriteTimeout)
	defer cancel()
	err := srv.Shutdown(shutdown)
	if err != nil {
		srv.Close()
		err = fmt.Errorf("reviews still in flight after %s: %w", srv.WriteTimeout, err)
	}
	if serr := <-served; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}
