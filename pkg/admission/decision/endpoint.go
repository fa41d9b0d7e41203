package decision

import "github.com/pullguard/pullguard/pkg/registryauth"

// Endpoint is one place the runtime tries for a mirrored image, with the credential it uses
// there and, with verification, the registry's answer. ImageDecision.Endpoints lists them in
// the runtime's order; its JSON form is SPEC section 6's
// `endpoints: [{"host","mirror_of","credential","result"}]`.
type Endpoint struct {
	// Host is the endpoint's registry, host[:port].
	Host string `json:"host"`
	// MirrorOf is the source prefix the endpoint mirrors; "" for the source itself.
	MirrorOf string `json:"mirror_of"`
	// Credential names the credential used there, as candidates name them: a secret's
	// name, "node:<source>" for the nodes' credentials (the kubelet's, or the auth file
	// CRI-O reads at a mirror on another host), "" for an anonymous request.
	Credential string         `json:"credential"`
	Result     EndpointResult `json:"result"`
}

// EndpointResult is what happened at an endpoint: a fixed set of values.
type EndpointResult string

const (
	// EndpointNotAsked: matching only (no --verify), a probe not sent (a credential
	// provider's token, a registry in --verify-deny-networks): the result is predicted.
	EndpointNotAsked EndpointResult = ""
	// EndpointOK: the registry served the manifest with that credential.
	EndpointOK EndpointResult = "ok"
	// EndpointUnauthorized: HTTP 401, the credential was refused or one is needed.
	EndpointUnauthorized EndpointResult = "unauthorized"
	// EndpointForbidden: HTTP 403 or DENIED.
	EndpointForbidden EndpointResult = "forbidden"
	// EndpointNotFound: no such tag or digest there (HTTP 404).
	EndpointNotFound EndpointResult = "not-found"
	// EndpointUnavailable: no definite answer (network, 5xx, 429, timeout, limits).
	EndpointUnavailable EndpointResult = "unavailable"
	// EndpointSkipped: a configured mirror the runtime does not try for this reference
	// (digest-only for a tag, tag-only for a digest, a location blocked elsewhere), or a
	// source that serves only the other kind.
	EndpointSkipped EndpointResult = "skipped"
	// EndpointBlocked: the source, which the configuration forbids contacting
	// (NeverContactSource, blocked = true).
	EndpointBlocked EndpointResult = "blocked"
)

// endpointResult turns a registry's answer into an endpoint's result.
func endpointResult(vd registryauth.Verdict) EndpointResult {
	switch vd.Status {
	case registryauth.ProbeOK:
		return EndpointOK
	case registryauth.ProbeUnauthorized:
		return EndpointUnauthorized
	case registryauth.ProbeForbidden:
		return EndpointForbidden
	case registryauth.ProbeNotFound:
		return EndpointNotFound
	case registryauth.ProbeUnavailable:
		return EndpointUnavailable
	}
	return EndpointNotAsked
}
