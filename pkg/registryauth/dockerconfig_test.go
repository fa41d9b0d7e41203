package registryauth

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestParseSecret(t *testing.T) {
	unpadded := base64.RawStdEncoding.EncodeToString([]byte("u1:" + testPassword))
	tests := []struct {
		name      string
		typ       string
		data      map[string]string
		wantErr   error
		breaks    bool
		wantKeys  []string // kubelet key names
		wantUser  string   // of the first entry
		wantInErr string
	}{
		{name: "dockerconfigjson", typ: TypeDockerConfigJSON,
			data:     map[string]string{".dockerconfigjson": `{"auths":{"quay.io":{"auth":"` + testAuth() + `"}}}`},
			wantKeys: []string{"quay.io"}, wantUser: testUser},
		{name: "dockercfg", typ: TypeDockercfg,
			data:     map[string]string{".dockercfg": `{"https://index.docker.io/v1/":{"auth":"` + testAuth() + `"}}`},
			wantKeys: []string{"index.docker.io"}, wantUser: testUser},
		{name: "auth without padding", typ: TypeDockerConfigJSON,
			data:     map[string]string{".dockerconfigjson": `{"auths":{"quay.io":{"auth":"` + unpadded + `"}}}`},
			wantKeys: []string{"quay.io"}, wantUser: "u1"},
		{name: "auth overrides username and password", typ: TypeDockerConfigJSON,
			data:     map[string]string{".dockerconfigjson": `{"auths":{"quay.io":{"username":"other","password":"x","auth":"` + testAuth() + `"}}}`},
			wantKeys: []string{"quay.io"}, wantUser: testUser},
		{name: "username and password without auth", typ: TypeDockerConfigJSON,
			data:     map[string]string{".dockerconfigjson": `{"auths":{"quay.io":{"username":"plain","password":"x"}}}`},
			wantKeys: []string{"quay.io"}, wantUser: "plain"},
		{name: "field names are case-insensitive like encoding/json", typ: TypeDockerConfigJSON,
			data:     map[string]string{".dockerconfigjson": `{"AUTHS":{"quay.io":{"Auth":"` + testAuth() + `"}}}`},
			wantKeys: []string{"quay.io"}, wantUser: testUser},
		{name: "null entry is a key with an empty credential", typ: TypeDockerConfigJSON,
			data:     map[string]string{".dockerconfigjson": `{"auths":{"quay.io":null}}`},
			wantKeys: []string{"quay.io"}},
		{name: "empty auths is valid and holds nothing", typ: TypeDockerConfigJSON,
			data: map[string]string{".dockerconfigjson": `{"auths":{}}`}},
		{name: "bad base64 auth", typ: TypeDockerConfigJSON,
			data:    map[string]string{".dockerconfigjson": `{"auths":{"quay.io":{"auth":"%%%"}}}`},
			wantErr: ErrBadAuth, breaks: true, wantKeys: []string{"quay.io"}, wantInErr: `entry "quay.io"`},
		{name: "auth without a colon", typ: TypeDockercfg,
			data:    map[string]string{".dockercfg": `{"quay.io":{"auth":"` + base64.StdEncoding.EncodeToString([]byte("justatoken")) + `"}}`},
			wantErr: ErrBadAuth, breaks: true, wantKeys: []string{"quay.io"}},
		{name: "truncated JSON", typ: TypeDockerConfigJSON,
			data:    map[string]string{".dockerconfigjson": `{"auths":{"quay.io":`},
			wantErr: ErrBadJSON, breaks: true},
		{name: "array instead of object", typ: TypeDockerConfigJSON,
			data:    map[string]string{".dockerconfigjson": `{"auths":[]}`},
			wantErr: ErrBadJSON, breaks: true, wantInErr: "auths"},
		{name: "entry is a number", typ: TypeDockercfg,
			data:    map[string]string{".dockercfg": `{"quay.io":7}`},
			wantErr: ErrBadJSON, breaks: true},
		{name: "no auths wrapper", typ: TypeDockerConfigJSON,
			data:    map[string]string{".dockerconfigjson": `{"quay.io":{"auth":"` + testAuth() + `"}}`},
			wantErr: ErrNoAuths, wantInErr: "registries at the top level"},
		{name: "missing data key", typ: TypeDockerConfigJSON,
			data:    map[string]string{".dockercfg": `{}`},
			wantErr: ErrMissingData, wantInErr: ".dockerconfigjson"},
		{name: "empty data", typ: TypeDockercfg,
			data:    map[string]string{".dockercfg": ``},
			wantErr: ErrMissingData},
		{name: "opaque secret holding a docker config", typ: "Opaque",
			data:    map[string]string{".dockerconfigjson": `{"auths":{}}`},
			wantErr: ErrUnknownType, wantInErr: "--type=kubernetes.io/dockerconfigjson"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := map[string][]byte{}
			for k, v := range tt.data {
				data[k] = []byte(v)
			}
			s := ParseSecret("team-secret", tt.typ, data)
			if tt.wantErr == nil {
				if s.Err != nil {
					t.Fatalf("unexpected error: %v", s.Err)
				}
			} else {
				if !errors.Is(s.Err, tt.wantErr) {
					t.Fatalf("error = %v, want %v", s.Err, tt.wantErr)
				}
				if s.Usable() {
					t.Error("a malformed secret must not be usable")
				}
				if s.Err.BreaksPulls() != tt.breaks {
					t.Errorf("BreaksPulls = %v, want %v", s.Err.BreaksPulls(), tt.breaks)
				}
				msg := s.Err.Error()
				if !strings.Contains(msg, `"team-secret"`) {
					t.Errorf("error %q does not name the secret", msg)
				}
				if tt.wantInErr != "" && !strings.Contains(msg, tt.wantInErr) {
					t.Errorf("error %q does not contain %q", msg, tt.wantInErr)
				}
			}
			var keys []string
			for _, e := range s.Entries {
				keys = append(keys, e.Key.Name())
			}
			if strings.Join(keys, ",") != strings.Join(tt.wantKeys, ",") {
				t.Errorf("keys = %q, want %q", keys, tt.wantKeys)
			}
			if tt.wantUser != "" && s.Entries[0].Credential.Username() != tt.wantUser {
				t.Errorf("username = %q, want %q", s.Entries[0].Credential.Username(), tt.wantUser)
			}
			assertNoSecretText(t, s)
		})
	}
}

// assertNoSecretText fails if any way of printing v shows the test password or auth string.
func assertNoSecretText(t *testing.T, v any) {
	t.Helper()
	for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
		out := fmt.Sprintf(format, v)
		if strings.Contains(out, testPassword) || strings.Contains(out, testAuth()) {
			t.Fatalf("%s printed a credential: %s", format, out)
		}
	}
}

func TestParseConfigFile(t *testing.T) {
	s := ParseConfigFile("/var/lib/kubelet/config.json", configJSON(t, "registry.redhat.io", "quay.io"))
	if s.Err != nil || len(s.Entries) != 2 {
		t.Fatalf("got %+v", s)
	}
	bad := ParseConfigFile("/tmp/x.json", []byte(`{"credsStore":"desktop"}`))
	if !errors.Is(bad.Err, ErrNoAuths) || !strings.Contains(bad.Err.Error(), "/tmp/x.json") {
		t.Fatalf("got %v", bad.Err)
	}
}

func TestCredentialRedaction(t *testing.T) {
	c := NewCredential(testUser, testPassword)
	assertNoSecretText(t, c)
	assertNoSecretText(t, Match{Secret: "s", Credential: c})
	assertNoSecretText(t, []Entry{{Key: ParseKey("quay.io"), Credential: &c}})
	if c.Password() != testPassword || c.Username() != testUser {
		t.Fatal("accessors must return the credential")
	}
	if c.Fingerprint() == NewCredential(testUser, "other").Fingerprint() {
		t.Fatal("fingerprints of different credentials must differ")
	}
	if strings.Contains(c.Fingerprint(), testPassword) {
		t.Fatal("fingerprint shows the password")
	}
}

func TestParseImage(t *testing.T) {
	tests := []struct {
		ref, name, registry, repo, reference string
	}{
		{"nginx", "docker.io/library/nginx", "docker.io", "library/nginx", "latest"},
		{"nginx:1.27", "docker.io/library/nginx", "docker.io", "library/nginx", "1.27"},
		{"docker.io/bitnami/redis:7", "docker.io/bitnami/redis", "docker.io", "bitnami/redis", "7"},
		{"index.docker.io/library/nginx", "docker.io/library/nginx", "docker.io", "library/nginx", "latest"},
		{"registry.redhat.io/ubi9/ubi:9.4", "registry.redhat.io/ubi9/ubi", "registry.redhat.io", "ubi9/ubi", "9.4"},
		{"localhost:5000/app", "localhost:5000/app", "localhost:5000", "app", "latest"},
		{"quay.io/a/b@sha256:" + strings.Repeat("0", 64), "quay.io/a/b", "quay.io", "a/b", "sha256:" + strings.Repeat("0", 64)},
	}
	for _, tt := range tests {
		img := image(t, tt.ref)
		if img.Name != tt.name || img.Registry != tt.registry || img.Repository != tt.repo || img.Reference() != tt.reference {
			t.Errorf("ParseImage(%q) = %+v", tt.ref, img)
		}
	}
	for _, bad := range []string{"", "Quay.io/UPPER/case", "nginx:", "a b", "quay.io/app@sha256:short"} {
		_, err := ParseImage(bad)
		var refErr *ReferenceError
		if !errors.As(err, &refErr) || !strings.Contains(err.Error(), fmt.Sprintf("%q", bad)) {
			t.Errorf("ParseImage(%q) error = %v, want a ReferenceError naming the image", bad, err)
		}
	}
}
