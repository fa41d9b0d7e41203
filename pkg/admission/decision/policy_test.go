package decision

import (
	"slices"
	"strings"
	"testing"
)

func TestPolicyFor(t *testing.T) {
	defaults := Policy{Mode: Enforce, FailurePolicy: FailOpen}
	tests := []struct {
		name   string
		labels map[string]string
		mode   Mode
		fp     FailurePolicy
		warn   []string
	}{
		{"no labels: defaults", nil, Enforce, FailOpen, nil},
		{"warn and closed", map[string]string{ModeLabel: "warn", FailurePolicyLabel: "closed"}, Warn, FailClosed, nil},
		{"off", map[string]string{ModeLabel: "off"}, Off, FailOpen, nil},
		{"invalid mode falls back with a warning", map[string]string{ModeLabel: "strict"}, Enforce, FailOpen, []string{`pullguard.io/mode="strict"`}},
		{"invalid failure policy falls back with a warning", map[string]string{FailurePolicyLabel: "Closed"}, Enforce, FailOpen, []string{`pullguard.io/failure-policy="Closed"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := PolicyFor(tt.labels, defaults)
			if p.Mode != tt.mode || p.FailurePolicy != tt.fp {
				t.Fatalf("got %s/%s, want %s/%s", p.Mode, p.FailurePolicy, tt.mode, tt.fp)
			}
			if len(p.Warnings) != len(tt.warn) {
				t.Fatalf("warnings = %q, want %d", p.Warnings, len(tt.warn))
			}
			for i, w := range tt.warn {
				if !strings.Contains(p.Warnings[i], w) {
					t.Errorf("warning %q lacks %q", p.Warnings[i], w)
				}
			}
		})
	}
	if !slices.Contains(Outcomes, Indeterminate) {
		t.Fatal("Outcomes must list every outcome")
	}
}
