package server

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"path"
	"slices"
	"strings"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/pullguard/pullguard/pkg/admission/decision"
	"github.com/pullguard/pullguard/pkg/admission/openshift"
	"github.com/pullguard/pullguard/pkg/admission/verify"
	"github.com/pullguard/pullguard/pkg/registryauth/probe"
)

// Facter is what handlers need from the caches.
type Facter interface {
	Synced() bool
	Facts(namespace string) *decision.Facts
	Policy(namespace string) decision.Policy
	// Refresh re-reads the namespace's pull secrets from the API server, reporting whether
	// the cache was missing anything.
	Refresh(ctx context.Context, namespace string) (bool, error)
}

// Handler answers AdmissionReviews. The mutating handler takes Pods (CREATE) and
// BuildConfigs (CREATE, UPDATE) and injects or denies; the validating handler takes workloads
// and only ever warns.
type Handler struct {
	State Facter
	// Exclude lists namespace globs pullguard never touches.
	Exclude []string
	Metrics *Metrics
	Log     *slog.Logger
	// Workloads makes this the validating handler.
	Workloads bool
	// Prober, when set, verifies with the registries within VerifyTimeout.
	Prober        *probe.Prober
	VerifyTimeout time.Duration
	// Access answers the internal registry's access questions; Dockercfg waits for a
	// service account's dockercfg secret (internal.go).
	Access    verify.Asker
	Dockercfg verify.DockercfgWaiter
}

var _ admission.Handler = (*Handler)(nil)

// Handle decides one request and records it.
func (h *Handler) Handle(ctx context.Context, req admission.Request) admission.Response {
	start := time.Now()
	resp, result := h.review(ctx, req)
	h.Metrics.observe(req.Kind.Kind, string(req.Operation), result, time.Since(start))
	return resp
}

func (h *Handler) review(ctx context.Context, req admission.Request) (admission.Response, string) {
	if h.excluded(req.Namespace) {
		return admission.Allowed(""), resultAllowed
	}
	obj := h.newObject(req)
	if obj == nil {
		return admission.Allowed(""), resultAllowed
	}
	policy := h.State.Policy(req.Namespace)
	if policy.Mode == decision.Off {
		return admission.Allowed(""), resultAllowed
	}
	if !h.State.Synced() {
		return h.undecided(req, policy, "its caches are not synced yet")
	}
	var err error
	if _, isPod := obj.(*corev1.Pod); isPod {
		var pod *corev1.Pod
		if pod, err = decodePod(req.Object.Raw); err == nil {
			obj = pod
			defer releasePod(pod) // after respond: the response holds nothing of it
		}
	} else {
		err = json.Unmarshal(req.Object.Raw, obj)
	}
	if err != nil {
		return h.undecided(req, policy, fmt.Sprintf("the %s could not be read: %v", req.Kind.Kind, err))
	}
	// One verification budget for the whole review, however many passes it takes: the API
	// server gives up on the webhook after timeoutSeconds. It does not end with the server:
	// controller-runtime gives requests the server's context, and a shutdown (a rolling
	// update of pullguard) must let in-flight reviews finish, not deny them half-checked.
	vctx := ctx
	if h.Prober != nil || h.Access != nil {
		var cancel context.CancelFunc
		vctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), h.VerifyTimeout)
		defer cancel()
	}
	d, ok := verify.DecideWith(vctx, obj, h.facts(ctx, req.Namespace), h.verifyOptions())
	if !ok {
		return admission.Allowed(""), resultAllowed
	}
	// "No credential" may only mean the cache has not seen a secret created a moment ago:
	// confirm with the API server before acting on it.
	if d.Count(decision.Missing) > 0 {
		if changed, err := h.State.Refresh(ctx, req.Namespace); err != nil {
			h.Log.Warn("could not confirm the namespace's pull secrets", "namespace", req.Namespace, "error", err.Error())
		} else if changed {
			d, _ = verify.DecideWith(vctx, obj, h.facts(ctx, req.Namespace), h.verifyOptions())
		}
	}
	h.Metrics.countImages(d)
	return h.respond(req, d, policy)
}

// facts returns the namespace's facts for an admission review: only failures are worded,
// and explanations stop when the review's context ends.
func (h *Handler) facts(ctx context.Context, ns string) *decision.Facts {
	f := h.State.Facts(ns)
	f.FailureMessagesOnly = true
	f.Context = ctx
	return f
}

// newObject returns an empty object of the request's kind when this handler decides it:
// the mutating handler takes Pods on CREATE and BuildConfigs on CREATE and UPDATE, the
// validating handler workloads on CREATE and UPDATE.
func (h *Handler) newObject(req admission.Request) any {
	var obj any
	if req.Kind.Group == "" && req.Kind.Kind == "Pod" {
		obj = podKind // review decodes pods itself (decodePod)
	} else {
		obj = decision.NewObject(req.Kind.Group, req.Kind.Kind)
	}
	createOrUpdate := req.Operation == admissionv1.Create || req.Operation == admissionv1.Update
	switch obj.(type) {
	case nil:
		return nil
	case *corev1.Pod:
		if h.Workloads || req.Operation != admissionv1.Create {
			return nil
		}
	case *openshift.BuildConfig:
		if h.Workloads || !createOrUpdate {
			return nil
		}
	default:
		if !h.Workloads || !createOrUpdate {
			return nil
		}
	}
	return obj
}

// respond assembles the response: a denial lists every failing image, one line each (SPEC
// section 5); warnings give one fix per registry and reason, each short enough to survive
// the API server's truncation, all marked as pullguard's.
func (h *Handler) respond(req admission.Request, d *decision.Decision, p decision.Policy) (admission.Response, string) {
	warnings := append(slices.Clone(p.Warnings), d.Notes...)
	failed, undecided := d.Failed(), d.Undecided()
	if p.Mode == decision.Enforce && !h.Workloads {
		var lines []string
		switch {
		case len(failed) > 0:
			lines = messages(append(failed, undecided...))
		case len(undecided) > 0 && p.FailurePolicy == decision.FailClosed:
			lines = messages(undecided)
			lines = append(lines, fmt.Sprintf("namespace %q is %s=closed, so what cannot be verified is denied", req.Namespace, decision.FailurePolicyLabel))
		}
		if len(lines) > 0 {
			warnings = append(warnings, decision.Warnings(d.Local())...)
			h.Log.Info("denied", "kind", d.Kind, "namespace", d.Namespace, "name", d.Name, "uid", string(req.UID), "images", outcomes(d))
			return admission.Denied(strings.Join(lines, "\n")).WithWarnings(prefixed(warnings)...), resultDenied
		}
	}
	warnings = append(warnings, decision.Warnings(d.Images)...)
	result := resultAllowed
	resp := admission.Allowed("")
	if len(d.Patch) > 0 && !h.Workloads {
		patch, err := encodePatch(d.Patch)
		if err != nil {
			return h.undecided(req, p, "the patch could not be written: "+err.Error())
		}
		resp.Patch, resp.PatchType = patch, &jsonPatch
		result = resultPatched
		// Secret names, never their contents: what an admin looks for when a pod pulls
		// with a secret nobody listed (the pod's pullguard.io/injected annotation says
		// the same). Worded only when logged: every patched pod passes here.
		if h.Log.Enabled(context.Background(), slog.LevelInfo) {
			h.Log.LogAttrs(context.Background(), slog.LevelInfo, "injected pull secrets", slog.String("kind", d.Kind), slog.String("namespace", d.Namespace), slog.String("name", d.Name),
				slog.String("uid", string(req.UID)), slog.String("secrets", strings.Join(injected(d), ",")), slog.String("images", outcomes(d)))
		}
	}
	if len(failed)+len(undecided) > 0 {
		result = resultWarned
		h.Log.Info("admitted with warnings", "kind", d.Kind, "namespace", d.Namespace, "name", d.Name, "uid", string(req.UID), "mode", string(p.Mode), "images", outcomes(d))
	}
	return resp.WithWarnings(prefixed(warnings)...), result
}

// prefixed marks every warning as pullguard's: kubectl prints them as "Warning: ..." among
// those of other webhooks and the API server.
func prefixed(warnings []string) []string {
	for i, w := range warnings {
		warnings[i] = decision.PrefixWarning(w)
	}
	return warnings
}

// injected names the secrets a decision injects, each once, in order.
func injected(d *decision.Decision) []string {
	var out []string
	for _, img := range d.Images {
		if img.Outcome == decision.Injected && img.Secret != "" && !slices.Contains(out, img.Secret) {
			out = append(out, img.Secret)
		}
	}
	return out
}

func messages(images []decision.ImageDecision) []string {
	out := make([]string, len(images))
	for i, img := range images {
		out[i] = img.Message
	}
	return out
}

// undecided answers when pullguard cannot decide: the namespace's failure policy rules.
func (h *Handler) undecided(req admission.Request, p decision.Policy, reason string) (admission.Response, string) {
	h.Log.Warn("could not decide", "kind", req.Kind.Kind, "namespace", req.Namespace, "name", req.Name, "uid", string(req.UID), "reason", reason, "failurePolicy", string(p.FailurePolicy))
	if p.FailurePolicy == decision.FailClosed && !h.Workloads {
		return admission.Denied(fmt.Sprintf("pullguard could not check the images: %s; namespace %q is %s=closed", reason, req.Namespace, decision.FailurePolicyLabel)).WithWarnings(prefixed(slices.Clone(p.Warnings))...), resultError
	}
	return admission.Allowed("").WithWarnings(prefixed(append(slices.Clone(p.Warnings), "could not check the images: "+reason))...), resultError
}

func (h *Handler) excluded(ns string) bool {
	for _, glob := range h.Exclude {
		if ok, _ := path.Match(glob, ns); ok {
			return true
		}
	}
	return false
}

// outcomes summarises a decision for logs: container=outcome, comma-separated, no image
// names or secrets. One string rather than a list: every patched pod is logged, and a
// string attribute is written without reflection.
func outcomes(d *decision.Decision) string {
	var b strings.Builder
	for i, img := range d.Images {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(img.Container)
		b.WriteByte('=')
		b.WriteString(string(img.Outcome))
	}
	return b.String()
}
