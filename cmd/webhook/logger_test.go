package main

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	"k8s.io/klog/v2"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
)

// TestLoggerVerbosity logs through controller-runtime's and klog's loggers as client-go
// and the webhook framework do, and checks the levels slog prints.
func TestLoggerVerbosity(t *testing.T) {
	tests := []struct {
		level string
		want  map[string]string // message -> printed level; absent: not printed
	}{
		// debug first: controller-runtime's global logger takes the first logger it is
		// given, as in the binary, which calls newLogger once.
		{"debug", map[string]string{"ctrl v0": "INFO", "ctrl v1": "DEBUG", "ctrl v4": "DEBUG", "klog info": "INFO", "klog v4": "DEBUG", "klog error": "ERROR"}},
		{"info", map[string]string{"ctrl v0": "INFO", "klog info": "INFO", "klog error": "ERROR"}},
	}
	for i, tc := range tests {
		t.Run(tc.level, func(t *testing.T) {
			var out bytes.Buffer
			log, err := newLogger(&out, tc.level)
			if err != nil {
				t.Fatal(err)
			}
			defer klog.ClearLogger()
			l := ctrllog.Log
			if i > 0 {
				l = logr.FromSlogHandler(log.Handler())
			}
			l.Info("ctrl v0")
			l.V(1).Info("ctrl v1")
			l.V(4).Info("ctrl v4")
			l.V(5).Info("ctrl v5")
			klog.InfoS("klog info")
			klog.V(4).InfoS("klog v4")
			klog.V(6).InfoS("klog v6")
			klog.ErrorS(nil, "klog error")
			klog.Flush()

			got := map[string]string{}
			for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
				var rec struct{ Level, Msg string }
				if err := json.Unmarshal([]byte(line), &rec); err != nil {
					t.Fatalf("%q: %v", line, err)
				}
				got[rec.Msg] = rec.Level
			}
			for msg, level := range tc.want {
				if got[msg] != level {
					t.Errorf("%q printed at %q, want %q", msg, got[msg], level)
				}
			}
			for msg, level := range got {
				if _, ok := tc.want[msg]; !ok {
					t.Errorf("%q printed at %s, want it left out", msg, level)
				}
			}
		})
	}
	if got := verbosityLevel(slog.Level(-3)); got != slog.LevelDebug {
		t.Errorf("V(3) maps to %s, want DEBUG", got)
	}
}
