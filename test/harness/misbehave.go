package harness

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// Misbehaving is a registry that answers as a test tells it: a real HTTPS server with the
// test CA's 127.0.0.1 certificate whose every answer is the test's handler (AnswerPing
// gives the usual answer to the /v2/ ping). It counts the connections it accepts and the
// body bytes Stream manages to write.
type Misbehaving struct {
	// Host is 127.0.0.1:port.
	Host string

	srv      *http.Server
	accepted atomic.Int64
	written  atomic.Int64
}

// StartMisbehaving serves handler on 127.0.0.1 over TLS.
func StartMisbehaving(t *TLS, handler http.HandlerFunc) (*Misbehaving, error) {
	cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	m := &Misbehaving{Host: l.Addr().String()}
	m.srv = &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	go m.srv.Serve(tls.NewListener(countingListener{l, &m.accepted}, &tls.Config{Certificates: []tls.Certificate{cert}}))
	return m, nil
}

// Accepted is how many connections the registry accepted.
func (m *Misbehaving) Accepted() int64 { return m.accepted.Load() }

// Written is how many body bytes Stream managed to write (into the kernel's buffers: at most
// a few MiB more than the client read).
func (m *Misbehaving) Written() int64 { return m.written.Load() }

// Close stops the registry and closes its connections.
func (m *Misbehaving) Close() { m.srv.Close() }

// Stream answers 200 with n bytes of body and no Content-Length, until n are written or the
// client goes away (a HEAD gets the status only).
func (m *Misbehaving) Stream(w http.ResponseWriter, r *http.Request, n int64) {
	w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	chunk := []byte(strings.Repeat("x", 32<<10))
	for n > 0 {
		c := chunk[:min(int64(len(chunk)), n)]
		written, err := w.Write(c)
		m.written.Add(int64(written))
		if err != nil {
			return
		}
		n -= int64(written)
	}
}

// AnswerPing answers the /v2/ ping with "no authentication needed" and reports whether r
// was the ping.
func AnswerPing(w http.ResponseWriter, r *http.Request) bool {
	if r.URL.Path != "/v2/" {
		return false
	}
	w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	w.WriteHeader(http.StatusOK)
	return true
}

// RegistryError answers status with the distribution spec's error JSON carrying code.
func RegistryError(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]string{{"code": code, "message": message}}})
}

type countingListener struct {
	net.Listener
	n *atomic.Int64
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

// Silent is a set of listeners that never answer: registries that are up and stuck. The
// kernel completes each TCP handshake (into the listen backlog) and nobody reads, so a TLS
// client waits for a ServerHello that never comes. Nothing serves them, so thousands cost
// only their sockets, and Connections counts the connections that arrived.
type Silent struct {
	// Hosts are the listeners' host:port, in the order of the addresses given.
	Hosts []string

	listeners []*net.TCPListener
}

// ListenSilent listens on each of ips (loopback addresses: Linux routes all of 127.0.0.0/8
// to lo), all on one port so thousands of them do not eat the ephemeral port range.
func ListenSilent(ips []string) (*Silent, error) {
	var last error
	for range 20 {
		s, err := listenSilentOnce(ips)
		if err == nil {
			return s, nil
		}
		if last = err; !errors.Is(err, syscall.EADDRINUSE) {
			break
		}
	}
	return nil, last
}

func listenSilentOnce(ips []string) (*Silent, error) {
	s := &Silent{}
	port := "0"
	var lc net.ListenConfig
	for _, ip := range ips {
		l, err := lc.Listen(context.Background(), "tcp", net.JoinHostPort(ip, port))
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("listening on %s: %w", ip, err)
		}
		tl := l.(*net.TCPListener)
		s.listeners = append(s.listeners, tl)
		s.Hosts = append(s.Hosts, tl.Addr().String())
		port = strconv.Itoa(tl.Addr().(*net.TCPAddr).Port)
	}
	return s, nil
}

// Connections returns how many connections arrived, per listener, since the last call,
// and closes them. It takes them from the backlogs without waiting.
func (s *Silent) Connections() []int {
	out := make([]int, len(s.listeners))
	for i, l := range s.listeners {
		rc, err := l.SyscallConn()
		if err != nil {
			continue
		}
		rc.Control(func(fd uintptr) {
			for {
				nfd, _, err := syscall.Accept4(int(fd), syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC)
				if err != nil {
					return // EAGAIN: the backlog is empty; never wait
				}
				out[i]++
				syscall.Close(nfd)
			}
		})
	}
	return out
}

// Close closes the listeners (and with them the connections still in their backlogs).
func (s *Silent) Close() {
	for _, l := range s.listeners {
		l.Close()
	}
}

// LoopbackAddresses returns n distinct addresses of 127.a.b.c, starting at 127.first.0.1,
// none ending in 0 or 255.
func LoopbackAddresses(first, n int) []string {
	out := make([]string, 0, n)
	for i := 0; len(out) < n; i++ {
		a, b, c := first+i/(254*256), (i/254)%256, i%254+1
		out = append(out, fmt.Sprintf("127.%d.%d.%d", a, b, c))
	}
	return out
}
