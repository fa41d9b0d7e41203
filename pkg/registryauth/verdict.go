package registryauth

// ProbeStatus classifies a registry's answer to a manifest request.
type ProbeStatus string

const (
	// ProbeOK: the manifest exists and the credential (or anonymity) is accepted.
	ProbeOK ProbeStatus = "ok"
	// ProbeUnauthorized: HTTP 401, the credential was refused (or one is needed).
	ProbeUnauthorized ProbeStatus = "unauthorized"
	// ProbeForbidden: HTTP 403 or DENIED, no access to the repository.
	ProbeForbidden ProbeStatus = "forbidden"
	// ProbeNotFound: HTTP 404, MANIFEST_UNKNOWN or NAME_UNKNOWN: no such tag or digest.
	ProbeNotFound ProbeStatus = "not_found"
	// ProbeUnavailable: no definite answer: network error, timeout, TLS failure, 5xx, 429,
	// or a probe pullguard's own limits did not send.
	ProbeUnavailable ProbeStatus = "unavailable"
	// ProbeSkipped: the registry's address is in a network probes may not reach
	// (--verify-deny-networks); nothing was sent. The image is decided by matching alone,
	// as with verification off.
	ProbeSkipped ProbeStatus = "skipped"
)

// ProbeStatuses lists every status, for metrics.
var ProbeStatuses = []ProbeStatus{ProbeOK, ProbeUnauthorized, ProbeForbidden, ProbeNotFound, ProbeUnavailable, ProbeSkipped}

// Verdict is a registry's answer to a probe of an image's manifest. It never holds a
// credential.
type Verdict struct {
	Status ProbeStatus
	// HTTPStatus is the response's status code, 0 when there was no response.
	HTTPStatus int
	// Code is the registry's error code (MANIFEST_UNKNOWN, DENIED) if it sent one the
	// distribution spec defines; any other code is dropped.
	Code string
	// Reason says, for users, why a probe is unavailable or skipped ("the registry could
	// not be reached"): coarse on purpose, so messages do not map the network.
	Reason string
	// Detail is the precise cause of a failure ("dial tcp 10.0.0.7:443: connection
	// refused", "TLS: certificate signed by an unknown authority"), for pullguard's log
	// only: it must never reach a message.
	Detail string
}

// Definite reports whether the verdict is the registry's answer rather than a failure to
// get one (unavailable) or a probe not sent (skipped).
func (v Verdict) Definite() bool { return v.Status != ProbeUnavailable && v.Status != ProbeSkipped }

// ProbeKey identifies a probe: the manifest and the credential asked with.
type ProbeKey struct {
	// Name and Reference are the image's normalized name and tag or digest.
	Name      string
	Reference string
	// Credential is the credential's fingerprint, "" for an anonymous probe.
	Credential string
}

// ProbeKeyFor returns the key of a probe of img with cred (nil: anonymous).
func ProbeKeyFor(img Image, cred *Credential) ProbeKey {
	k := ProbeKey{Name: img.Name, Reference: img.Reference()}
	if cred != nil {
		k.Credential = cred.Fingerprint()
	}
	return k
}
