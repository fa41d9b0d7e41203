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
	w.list("[", "]", len(ops), func(i int) {
		w.raw(`{"op":`)
		w.quote(ops[i].Op)
		w.raw(`,"path":`)
		w.quote(ops[i].Path)
		if ops[i].Value != nil {
			w.raw(`,"value":`)
			w.value(ops[i].Value)
		}
		w.raw("}")
	})
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

// list writes n items between open and close, comma-separated.
func (w *patchWriter) list(open, close string, n int, item func(i int)) {
	w.raw(open)
	for i := range n {
		if i > 0 {
			w.raw(",")
		}
		item(i)
	}
	w.raw(close)
}

func (w *patchWriter) value(v any) {
	switch v := v.(type) {
	case string:
		w.quote(v)
	case corev1.LocalObjectReference:
		w.reference(v)
	case []corev1.LocalObjectReference:
		w.list("[", "]", len(v), func(i int) { w.reference(v[i]) })
	case map[string]string:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		w.list("{", "}", len(keys), func(i int) {
			w.quote(keys[i])
			w.raw(":")
			w.quote(v[keys[i]])
		})
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
