package server

import (
	"slices"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/pullguard/pullguard/pkg/admission/decision"
)

var jsonPatch = admissionv1.PatchTypeJSONPatch

// podKind stands for a Pod in newObject: a typed nil, since review decodes pods itself
// (decodePod) and an empty Pod to decode into would be a kilobyte thrown away per review.
var podKind = (*corev1.Pod)(nil)

// encodePatch writes the decision's JSON patch once: handing controller-runtime the
// operations (admission.Patched) has Response.Complete marshal them through encoding/json's
// reflection on every review, a fifth of what pullguard adds to one. The values decisions
// put in a patch (secret references, the injected annotation) are written directly, every
// string quoted by JSON v2 (which refuses invalid UTF-8, as its Marshal does); any other
// value goes through JSON v2's Marshal.
func encodePatch(ops []decision.PatchOp) ([]byte, error) {
	w := patchWriter{b: make([]byte, 0, 64+96*len(ops))}
	w.raw("[")
	for i, op := range ops {
		if i > 0 {
			w.raw(",")
		}
		w.raw(`{"op":`)
		w.quote(op.Op)
		w.raw(`,"path":`)
		w.quote(op.Path)
		if op.Value != nil {
			w.raw(`,"value":`)
			w.value(op.Value)
		}
		w.raw("}")
	}
	w.raw("]")
	return w.b, w.err
}

// patchWriter appends JSON to b and keeps the first error.
type patchWriter struct {
	b   []byte
	err error
}

func (w *patchWriter) raw(s string) { w.b = append(w.b, s...) }

func (w *patchWriter) quote(s string) {
	var err error
	if w.b, err = jsontext.AppendQuote(w.b, s); err != nil && w.err == nil {
		w.err = err
	}
}

func (w *patchWriter) value(v any) {
	switch v := v.(type) {
	case string:
		w.quote(v)
	case corev1.LocalObjectReference:
		w.reference(v)
	case []corev1.LocalObjectReference:
		w.raw("[")
		for i, ref := range v {
			if i > 0 {
				w.raw(",")
			}
			w.reference(ref)
		}
		w.raw("]")
	case map[string]string:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		w.raw("{")
		for i, k := range keys {
			if i > 0 {
				w.raw(",")
			}
			w.quote(k)
			w.raw(":")
			w.quote(v[k])
		}
		w.raw("}")
	default:
		raw, err := jsonv2.Marshal(v, jsonv2.Deterministic(true))
		if err != nil && w.err == nil {
			w.err = err
		}
		w.b = append(w.b, raw...)
	}
}

// reference writes a LocalObjectReference as encoding/json does: its name is omitempty.
func (w *patchWriter) reference(ref corev1.LocalObjectReference) {
	if ref.Name == "" {
		w.raw("{}")
		return
	}
	w.raw(`{"name":`)
	w.quote(ref.Name)
	w.raw("}")
}
