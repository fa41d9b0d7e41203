package server

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pullguard/pullguard/pkg/admission/decision"
)

// TestSlowPeersAreCutOff: a peer that stalls at any stage of a request is disconnected once
// the matching timeout passes (the 3,000-connection version of the body stage runs in
// test/integration).
func TestSlowPeersAreCutOff(t *testing.T) {
	r := start(t, decision.FailOpen)
	addr := strings.TrimPrefix(r.base, "https://")
	read, _ := ConnectionTimeouts(3 * time.Second)
	for _, tc := range []struct {
		name    string
		timeout time.Duration
		stall   func(t *testing.T) net.Conn
	}{
		{"no TLS handshake", readHeaderTimeout, func(t *testing.T) net.Conn {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			return c
		}},
		{"half the headers", readHeaderTimeout, func(t *testing.T) net.Conn {
			c := handshake(t, addr)
			io.WriteString(c, "POST /mutate HTTP/1.1\r\nHost: x\r\n")
			return c
		}},
		{"headers, then no body", read, func(t *testing.T) net.Conn {
			c := handshake(t, addr)
			io.WriteString(c, "POST /mutate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n")
			return c
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			c := tc.stall(t)
			defer c.Close()
			// Bounded well past the configured timeout: only "never" fails.
			c.SetReadDeadline(time.Now().Add(tc.timeout + 20*time.Second))
			_, err := io.Copy(io.Discard, c)
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("still open after %s (timeout %s)", time.Since(start).Round(time.Millisecond), tc.timeout)
			}
			t.Logf("closed after %s (timeout %s)", time.Since(start).Round(time.Millisecond), tc.timeout)
		})
	}
}

func handshake(t *testing.T, addr string) *tls.Conn {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestRequestBodyIsCapped: controller-runtime's admission.Webhook reads at most 7 MiB of a
// body (its maxRequestSize) and answers a larger one with an error, without decoding it.
func TestRequestBodyIsCapped(t *testing.T) {
	r := start(t, decision.FailOpen)
	body := bytes.Repeat([]byte(" "), 8<<20)
	resp, _ := review(t, r, MutatePath, podReview(t, "big")+string(body))
	if resp.Allowed || resp.Result == nil || resp.Result.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("an 8 MiB review: %+v", resp)
	}
	t.Logf("8 MiB review: %d %s", resp.Result.Code, resp.Result.Message)
}
