package server

import "github.com/pullguard/pullguard/pkg/admission/verify"

// verifyOptions are the I/O steps of a review: registry probes, access reviews for the
// internal registry, and the wait for a service account's dockercfg secret, all within
// VerifyTimeout (the webhook's timeoutSeconds is larger).
func (h *Handler) verifyOptions() verify.Options {
	return verify.Options{Prober: h.Prober, Budget: h.VerifyTimeout, Access: h.Access, Dockercfg: h.Dockercfg}
}
