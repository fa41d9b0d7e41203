package server

import (
	"encoding/json"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/pullguard/pullguard/pkg/admission/decision"
)

// TestEncodePatch: the written patch means what encoding/json's marshalling of the same
// operations means, for every value decisions put in one and for others.
func TestEncodePatch(t *testing.T) {
	tests := []struct {
		name string
		ops  []decision.PatchOp
	}{
		{"none", []decision.PatchOp{}},
		{"one reference", []decision.PatchOp{{Op: "add", Path: "/spec/imagePullSecrets/-", Value: corev1.LocalObjectReference{Name: "pull-2"}}}},
		{"an empty name", []decision.PatchOp{{Op: "add", Path: "/spec/imagePullSecrets/-", Value: corev1.LocalObjectReference{}}}},
		{"a list and the annotation map", []decision.PatchOp{
			{Op: "add", Path: "/spec/imagePullSecrets", Value: []corev1.LocalObjectReference{{Name: "a"}, {Name: "b"}}},
			{Op: "add", Path: "/metadata/annotations", Value: map[string]string{decision.InjectedAnnotation: "a,b", "z": "1", "m": ""}},
		}},
		{"the annotation as a string", []decision.PatchOp{{Op: "add", Path: "/metadata/annotations/pullguard.io~1injected", Value: `quote " back \ and <tag> & é ✓`}}},
		{"no value", []decision.PatchOp{{Op: "remove", Path: "/spec/imagePullSecrets/0"}}},
		{"another value", []decision.PatchOp{{Op: "add", Path: "/x", Value: map[string]int{"b": 2, "a": 1}}, {Op: "add", Path: "/y", Value: []string{"c"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := encodePatch(tt.ops)
			if err != nil {
				t.Fatal(err)
			}
			want, err := json.Marshal(tt.ops)
			if err != nil {
				t.Fatal(err)
			}
			var g, w any
			if err := json.Unmarshal(got, &g); err != nil {
				t.Fatalf("not JSON: %v\n%s", err, got)
			}
			json.Unmarshal(want, &w)
			if !reflect.DeepEqual(g, w) {
				t.Errorf("patch\n%s\nmeans something else than\n%s", got, want)
			}
		})
	}
	if _, err := encodePatch([]decision.PatchOp{{Op: "add", Path: "/a", Value: corev1.LocalObjectReference{Name: "bad\xff"}}}); err == nil {
		t.Error("a name with invalid UTF-8 was written without an error")
	}
}
