package check

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/pullguard/pullguard/pkg/admission/decision"
	"github.com/pullguard/pullguard/pkg/admission/manifest"
)

// TestVerdicts pins what admission would do with an object, by kind, image outcome, mode
// and failure policy: only a definite failure or, in a fail-closed namespace, an undecided
// image denies, and only in enforce mode: Pods and BuildConfigs themselves, a workload's
// pods (the workload is admitted with warnings; its controller's pods are denied).
func TestVerdicts(t *testing.T) {
	open := decision.Policy{Mode: decision.Enforce, FailurePolicy: decision.FailOpen}
	closed := decision.Policy{Mode: decision.Enforce, FailurePolicy: decision.FailClosed}
	warnClosed := decision.Policy{Mode: decision.Warn, FailurePolicy: decision.FailClosed}
	off := decision.Policy{Mode: decision.Off, FailurePolicy: decision.FailClosed}
	tests := []struct {
		name    string
		kind    string
		outcome decision.Outcome
		patch   bool
		policy  decision.Policy
		want    verdict
	}{
		{"indeterminate pod, fail-open: admitted with a warning", "Pod", decision.Indeterminate, false, open, warned},
		{"indeterminate pod, fail-closed: denied", "Pod", decision.Indeterminate, false, closed, denied},
		{"indeterminate build, fail-closed: denied", "BuildConfig", decision.Indeterminate, false, closed, denied},
		{"indeterminate pod with an injection, fail-open: warned, not patched", "Pod", decision.Indeterminate, true, open, warned},
		{"indeterminate pod, warn mode, fail-closed: warned", "Pod", decision.Indeterminate, false, warnClosed, warned},
		{"indeterminate workload, fail-closed: its pods denied", "Deployment", decision.Indeterminate, false, closed, podsDenied},
		{"indeterminate workload, fail-open: warned", "Deployment", decision.Indeterminate, false, open, warned},
		{"indeterminate workload, warn mode, fail-closed: warned", "StatefulSet", decision.Indeterminate, false, warnClosed, warned},
		{"missing pod, fail-open: denied (a definite answer)", "Pod", decision.Missing, false, open, denied},
		{"rejected pod, fail-open: denied", "Pod", decision.Rejected, false, open, denied},
		{"missing pod, warn mode: warned", "Pod", decision.Missing, false, warnClosed, warned},
		{"missing workload: its pods denied", "Deployment", decision.Missing, false, open, podsDenied},
		{"rejected cron job: its pods denied", "CronJob", decision.Rejected, false, open, podsDenied},
		{"missing workload, warn mode: warned", "Deployment", decision.Missing, false, warnClosed, warned},
		{"covered workload: admitted", "DaemonSet", decision.Covered, false, closed, admitted},
		{"injected pod: patched", "Pod", decision.Injected, true, closed, patched},
		{"covered pod: admitted", "Pod", decision.Covered, false, closed, admitted},
		{"missing pod, mode off: skipped", "Pod", decision.Missing, false, off, skipped},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &decision.Decision{Kind: tt.kind, Namespace: "team-a", Name: "x",
				Images: []decision.ImageDecision{{Container: "app", Image: "quay.io/acme/app:1", Outcome: tt.outcome}}}
			if tt.patch {
				d.Patch = []decision.PatchOp{{Op: "add", Path: "/spec/imagePullSecrets", Value: []string{"s"}}}
			}
			r := newReport(true)
			r.add(manifest.Object{}, d, tt.policy)
			if len(r.Objects) != 1 {
				t.Fatalf("report holds %d objects, want 1", len(r.Objects))
			}
			if got := r.Objects[0].Verdict; got != tt.want {
				t.Errorf("verdict %q, want %q", got, tt.want)
			}
			wantFail := tt.want == denied || tt.want == podsDenied
			if r.fails(FailOnDeny) != wantFail {
				t.Errorf("fails(deny) = %v, want %v (the exit code follows it)", r.fails(FailOnDeny), wantFail)
			}
			if wantWarn := wantFail || tt.want == warned; r.fails(FailOnWarn) != wantWarn {
				t.Errorf("fails(warn) = %v, want %v", r.fails(FailOnWarn), wantWarn)
			}
		})
	}
}

// TestSkippedInBothOutputs: an object of a mode=off namespace is listed by the text and the
// JSON output alike, marked skipped, without images or patch.
func TestSkippedInBothOutputs(t *testing.T) {
	r := newReport(true)
	pod := &decision.Decision{Kind: "Pod", Namespace: "team-a", Name: "decided",
		Images: []decision.ImageDecision{{Container: "app", Image: "quay.io/acme/app:1", Outcome: decision.Anonymous}}}
	r.add(manifest.Object{}, &decision.Decision{Kind: "Pod", Namespace: "team-off", Name: "left-alone",
		Images: []decision.ImageDecision{{Container: "app", Image: "quay.io/acme/app:1", Outcome: decision.Missing}}},
		decision.Policy{Mode: decision.Off, FailurePolicy: decision.FailOpen})
	r.add(manifest.Object{}, pod, decision.Policy{Mode: decision.Enforce, FailurePolicy: decision.FailOpen})

	var text bytes.Buffer
	if err := r.writeText(&text); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Pod team-off/left-alone", ": skipped (pullguard.io/mode=off)", "2 objects, 1 image (1 anonymous): 1 admitted, 1 skipped"} {
		if !bytes.Contains(text.Bytes(), []byte(want)) {
			t.Errorf("text lacks %q:\n%s", want, text.String())
		}
	}

	var out bytes.Buffer
	if err := r.writeJSON(&out); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Objects []map[string]any `json:"objects"`
	}
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Objects) != 2 {
		t.Fatalf("JSON lists %d objects, want 2:\n%s", len(doc.Objects), out.String())
	}
	skippedObj, decided := doc.Objects[0], doc.Objects[1]
	if skippedObj["name"] != "left-alone" || skippedObj["skipped"] != true {
		t.Errorf("first object (input order) should be the skipped one: %v", skippedObj)
	}
	if imgs, _ := skippedObj["images"].([]any); imgs == nil || len(imgs) != 0 {
		t.Errorf("a skipped object has no images: %v", skippedObj["images"])
	}
	if _, ok := decided["skipped"]; ok {
		t.Errorf("a decided object carries no skipped key: %v", decided)
	}
}
