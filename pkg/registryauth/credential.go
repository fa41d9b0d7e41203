package registryauth

import (
	"crypto/sha256"
	"encoding/hex"
)

const redacted = "[redacted]"

// Credential is a username and password from a docker config entry. Its fields are
// unexported and every formatter prints it redacted, so a credential cannot leak through a
// log line, an error or a JSON document by accident; Username and Password are the only ways
// to read it.
type Credential struct {
	username, password string
}

// noCredential is the shared credential of entries that carry none.
var noCredential Credential

// NewCredential returns the credential for a username and password.
func NewCredential(username, password string) Credential {
	return Credential{username: username, password: password}
}

// Username returns the username.
func (c Credential) Username() string { return c.username }

// Password returns the password or token.
func (c Credential) Password() string { return c.password }

// Empty reports whether the entry carried no username and no password.
func (c Credential) Empty() bool { return c.username == "" && c.password == "" }

// Fingerprint identifies the credential without revealing it: a truncated SHA-256 of both
// fields, for cache keys.
func (c Credential) Fingerprint() string {
	h := sha256.New()
	h.Write([]byte(c.username))
	h.Write([]byte{0})
	h.Write([]byte(c.password))
	return hex.EncodeToString(h.Sum(nil)[:12])
}

// String prints the credential redacted.
func (c Credential) String() string { return redacted }

// GoString prints the credential redacted, for %#v.
func (c Credential) GoString() string { return redacted }

// MarshalJSON encodes the credential redacted.
func (c Credential) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// MarshalText encodes the credential redacted (YAML and text encoders).
func (c Credential) MarshalText() ([]byte, error) { return []byte(redacted), nil }
