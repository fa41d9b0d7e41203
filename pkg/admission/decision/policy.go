package decision

import (
	"fmt"
	"strings"
)

// Namespace labels of SPEC section 4.
const (
	ModeLabel          = "pullguard.io/mode"
	FailurePolicyLabel = "pullguard.io/failure-policy"
)

// Mode says what pullguard does in a namespace.
type Mode string

const (
	// Enforce injects where it can and denies what will not pull.
	Enforce Mode = "enforce"
	// Warn injects where it can and admits the rest with warnings.
	Warn Mode = "warn"
	// Off leaves the namespace untouched.
	Off Mode = "off"
)

// FailurePolicy says what happens when pullguard cannot decide.
type FailurePolicy string

const (
	// FailOpen admits, with a warning.
	FailOpen FailurePolicy = "open"
	// FailClosed denies, saying why.
	FailClosed FailurePolicy = "closed"
)

// ParseMode parses a mode value.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case Enforce, Warn, Off:
		return m, nil
	}
	return "", fmt.Errorf("invalid mode %q: want enforce, warn or off", s)
}

// ParseFailurePolicy parses a failure policy value.
func ParseFailurePolicy(s string) (FailurePolicy, error) {
	switch p := FailurePolicy(s); p {
	case FailOpen, FailClosed:
		return p, nil
	}
	return "", fmt.Errorf("invalid failure policy %q: want open or closed", s)
}

// Policy is a namespace's mode and failure policy.
type Policy struct {
	Mode          Mode
	FailurePolicy FailurePolicy
	// Warnings name labels with invalid values, which fell back to the defaults.
	Warnings []string
}

// PolicyFor reads a namespace's labels over the cluster defaults.
func PolicyFor(labels map[string]string, defaults Policy) Policy {
	p := Policy{Mode: defaults.Mode, FailurePolicy: defaults.FailurePolicy}
	if v, ok := labels[ModeLabel]; ok {
		if m, err := ParseMode(strings.TrimSpace(v)); err == nil {
			p.Mode = m
		} else {
			p.Warnings = append(p.Warnings, fmt.Sprintf("namespace label %s=%q is not enforce, warn or off; using %q", ModeLabel, v, p.Mode))
		}
	}
	if v, ok := labels[FailurePolicyLabel]; ok {
		if fp, err := ParseFailurePolicy(strings.TrimSpace(v)); err == nil {
			p.FailurePolicy = fp
		} else {
			p.Warnings = append(p.Warnings, fmt.Sprintf("namespace label %s=%q is not open or closed; using %q", FailurePolicyLabel, v, p.FailurePolicy))
		}
	}
	return p
}
