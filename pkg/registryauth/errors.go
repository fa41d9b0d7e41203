package registryauth

import (
	"errors"
	"fmt"
)

// Sentinel errors for the faults a pull secret can have; a *SecretError matches one of
// them with errors.Is.
var (
	// ErrBadJSON: the docker config is not valid JSON of the expected shape. Fatal for the
	// kubelet: every pull of a pod referencing the secret fails.
	ErrBadJSON = errors.New("invalid JSON")
	// ErrBadAuth: an "auth" field is not base64 of "user:password". Fatal like ErrBadJSON.
	ErrBadAuth = errors.New(`"auth" is not base64 of "username:password"`)
	// ErrNoAuths: a .dockerconfigjson without its "auths" wrapper. The kubelet reads no
	// credentials from it.
	ErrNoAuths = errors.New(`no "auths" wrapper`)
	// ErrAuthsInDockercfg: a .dockercfg holding an "auths" wrapper, which that older format
	// does not have. The kubelet takes "auths" for one more registry key and ignores the
	// credentials nested under it; the secret's other keys still count (PullSecret.Hint).
	ErrAuthsInDockercfg = errors.New(`"auths" wrapper in a .dockercfg, which has none`)
	// ErrMissingData: the data key of the secret's type is absent or empty. The kubelet
	// ignores the secret.
	ErrMissingData = errors.New("missing data key")
	// ErrUnknownType: the secret's type is not a pull secret type. The kubelet ignores it.
	ErrUnknownType = errors.New("not a pull secret type")
)

// SecretError says which pull secret (or config file) is malformed and how.
type SecretError struct {
	// Secret is the secret's name, or the path of a config file.
	Secret string
	// Fault is one of the Err* sentinels.
	Fault error
	// Detail adds what was found: the data key, the registry key, the type.
	Detail string
}

func (e *SecretError) Error() string {
	if e.Detail == "" {
		return fmt.Sprintf("pull secret %q: %v", e.Secret, e.Fault)
	}
	return fmt.Sprintf("pull secret %q: %v: %s", e.Secret, e.Fault, e.Detail)
}

// Is reports whether target is the sentinel of this error's fault.
func (e *SecretError) Is(target error) bool { return e.Fault == target }

// Unwrap returns the fault sentinel.
func (e *SecretError) Unwrap() error { return e.Fault }

// BreaksPulls reports whether the kubelet fails every pull of a pod that references a secret
// with this fault (it cannot decode the secret), rather than silently ignoring the secret.
func (e *SecretError) BreaksPulls() bool {
	return e.Fault == ErrBadJSON || e.Fault == ErrBadAuth
}

// ReferenceError says why an image reference cannot be pulled at all.
type ReferenceError struct {
	Image string
	Err   error
}

func (e *ReferenceError) Error() string {
	return fmt.Sprintf("image %q is not a valid reference: %v", e.Image, e.Err)
}

func (e *ReferenceError) Unwrap() error { return e.Err }
