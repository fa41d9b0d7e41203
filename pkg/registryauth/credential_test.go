package registryauth

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// Distinct from the other tests' credential, so a hit here is this test's.
const (
	credentialTestUser     = "credential-test-user"
	credentialTestPassword = "not-a-real-password-credential"
)

// TestCredentialNeverPrinted prints a credential every way a log line, an error, a JSON or
// YAML document or a structured log could, alone and inside the values that carry it, and
// fails if the username, the password or their auth string shows.
func TestCredentialNeverPrinted(t *testing.T) {
	c := NewCredential(credentialTestUser, credentialTestPassword)
	secrets := []string{
		credentialTestUser,
		credentialTestPassword,
		base64.StdEncoding.EncodeToString([]byte(credentialTestUser + ":" + credentialTestPassword)),
	}
	config := fmt.Sprintf(`{"auths":{"quay.io":{"auth":%q},"ghcr.io":{"username":%q,"password":%q}}}`, secrets[2], credentialTestUser, credentialTestPassword)
	parsed := ParseSecret("s", TypeDockerConfigJSON, map[string][]byte{KeyDockerConfigJSON: []byte(config)})
	if parsed.Err != nil || len(parsed.Entries) != 2 {
		t.Fatalf("parsing the test secret: %+v", parsed)
	}
	carriers := []struct {
		name  string
		value any
	}{
		{"parsed secret", parsed},
		{"credential", c},
		{"pointer", &c},
		{"match", Match{Secret: "s", Key: "quay.io", RawKey: "https://quay.io", Credential: c}},
		{"entries", []Entry{{Key: ParseKey("quay.io"), Credential: &c}}},
		{"map", map[string]Credential{"quay.io": c}},
		{"pull secret", &PullSecret{Name: "s", Entries: []Entry{{Key: ParseKey("quay.io"), Credential: &c}}}},
	}
	printers := []struct {
		name  string
		print func(v any) (string, error)
	}{
		{"%v", sprintf("%v")},
		{"%+v", sprintf("%+v")},
		{"%#v", sprintf("%#v")},
		{"%s", sprintf("%s")},
		{"%q", sprintf("%q")},
		{"%x", sprintf("%x")},
		{"error", func(v any) (string, error) { return fmt.Errorf("wrapped: %w", errors.New(fmt.Sprint(v))).Error(), nil }},
		{"json", func(v any) (string, error) { b, err := json.Marshal(v); return string(b), err }},
		{"json indented", func(v any) (string, error) { b, err := json.MarshalIndent(v, "", " "); return string(b), err }},
		{"slog json", slogWith(func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) })},
		{"slog text", slogWith(func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) })},
	}
	for _, carrier := range carriers {
		for _, p := range printers {
			t.Run(carrier.name+"/"+p.name, func(t *testing.T) {
				out, err := p.print(carrier.value)
				if err != nil {
					t.Fatalf("printing: %v", err)
				}
				if carrier.name == "credential" && p.name != "%x" && !strings.Contains(out, redacted) {
					t.Errorf("%q does not say %s", out, redacted)
				}
				for _, s := range secrets {
					if strings.Contains(out, s) {
						t.Fatalf("printed %q: %s", s, out)
					}
				}
			})
		}
	}
}

// TestCredentialMarshalers checks the encoders' own methods, which YAML and text encoders
// call directly.
func TestCredentialMarshalers(t *testing.T) {
	c := NewCredential(credentialTestUser, credentialTestPassword)
	j, err := c.MarshalJSON()
	if err != nil || !json.Valid(j) || string(j) != `"`+redacted+`"` {
		t.Errorf("MarshalJSON = %s, %v; want the JSON string %q", j, err, redacted)
	}
	txt, err := c.MarshalText()
	if err != nil || string(txt) != redacted {
		t.Errorf("MarshalText = %s, %v; want %q", txt, err, redacted)
	}
	if c.String() != redacted || c.GoString() != redacted {
		t.Errorf("String, GoString = %q, %q; want %q", c.String(), c.GoString(), redacted)
	}
	// Redaction must not cost the accessors or the fingerprint their meaning.
	if c.Username() != credentialTestUser || c.Password() != credentialTestPassword {
		t.Error("accessors must return the credential")
	}
	if c.Empty() || !NewCredential("", "").Empty() {
		t.Error("Empty: only a credential without username and password is empty")
	}
	for _, other := range []Credential{NewCredential(credentialTestUser, "other"), NewCredential("other", credentialTestPassword), NewCredential(credentialTestUser+credentialTestPassword, "")} {
		if c.Fingerprint() == other.Fingerprint() {
			t.Errorf("fingerprints of different credentials must differ")
		}
	}
	if c.Fingerprint() != NewCredential(credentialTestUser, credentialTestPassword).Fingerprint() {
		t.Error("the fingerprint of one credential must be stable")
	}
}

func sprintf(format string) func(any) (string, error) {
	return func(v any) (string, error) { return fmt.Sprintf(format, v), nil }
}

func slogWith(handler func(*bytes.Buffer) slog.Handler) func(any) (string, error) {
	return func(v any) (string, error) {
		var b bytes.Buffer
		slog.New(handler(&b)).Info("probe", "credential", v)
		return b.String(), nil
	}
}
