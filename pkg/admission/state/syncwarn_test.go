package state

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// lockedBuffer collects log lines written from several goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// warnings returns the logged records at warn level.
func (b *lockedBuffer) warnings(t *testing.T) []map[string]any {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(b.buf.String()), "\n") {
		if line == "" {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if rec["level"] == "WARN" {
			out = append(out, rec)
		}
	}
	return out
}

// TestWarnsWhileCachesCannotSync starts the caches against API servers that cannot serve
// them and expects warnings saying why, repeated, instead of silence.
func TestWarnsWhileCachesCannotSync(t *testing.T) {
	tests := []struct {
		name       string
		listen     func(t *testing.T) string // returns the API server's address
		wantReason string
	}{
		{
			name: "connection refused",
			listen: func(t *testing.T) string {
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				addr := ln.Addr().String()
				ln.Close() // nothing listens here now
				return addr
			},
			wantReason: "connection refused",
		},
		{
			name: "never answers",
			listen: func(t *testing.T) string {
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { ln.Close() })
				go func() {
					for {
						c, err := ln.Accept()
						if err != nil {
							return
						}
						t.Cleanup(func() { c.Close() }) // accepted, never answered
					}
				}()
				return ln.Addr().String()
			},
			wantReason: "no answer from the API server yet",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			addr := tc.listen(t)
			client, err := kubernetes.NewForConfig(&rest.Config{Host: "https://" + addr, TLSClientConfig: rest.TLSClientConfig{Insecure: true}})
			if err != nil {
				t.Fatal(err)
			}
			var logs lockedBuffer
			s, err := New(client, Options{SyncWarnAfter: 100 * time.Millisecond, Log: slog.New(slog.NewJSONHandler(&logs, nil))})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			s.Start(ctx)

			// The first warning comes after 100ms, the second 200ms later; client-go's
			// reflectors retry a refused list within about a second.
			deadline := time.Now().Add(10 * time.Second)
			var warns []map[string]any
			for time.Now().Before(deadline) {
				warns = logs.warnings(t)
				if len(warns) >= 2 && strings.Contains(warns[len(warns)-1]["reason"].(string), tc.wantReason) {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			if len(warns) < 2 {
				t.Fatalf("want repeated warnings while the caches cannot sync, got %d:\n%s", len(warns), logs.buf.String())
			}
			last := warns[len(warns)-1]
			if !strings.Contains(last["reason"].(string), tc.wantReason) || last["apiServer"] != addr {
				t.Fatalf("warning %v: want reason %q and apiServer %s", last, tc.wantReason, addr)
			}
			caches, _ := last["caches"].([]any)
			if len(caches) != 4 {
				t.Errorf("want the four caches named, got %v", last["caches"])
			}
			if s.Synced() {
				t.Fatal("synced against an API server that cannot serve")
			}
		})
	}
}
