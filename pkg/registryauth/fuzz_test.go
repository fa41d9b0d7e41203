package registryauth

import (
	"encoding/json"
	"errors"
	"testing"
)

// FuzzParseSecret feeds arbitrary bytes to both pull secret formats. Seeds live in
// testdata/fuzz/FuzzParseSecret and replay under plain `go test`.
func FuzzParseSecret(f *testing.F) {
	f.Add([]byte(`{"auths":{"quay.io":{"auth":"dXNlcjpwYXNz"}}}`), true)
	f.Add([]byte(`{"https://index.docker.io/v1/":{"username":"u","password":"p"}}`), false)
	f.Fuzz(func(t *testing.T, data []byte, wrapped bool) {
		typ, key := TypeDockercfg, KeyDockercfg
		if wrapped {
			typ, key = TypeDockerConfigJSON, KeyDockerConfigJSON
		}
		s := ParseSecret("fuzz", typ, map[string][]byte{key: data})
		if s == nil || s.Name != "fuzz" {
			t.Fatalf("no secret returned")
		}
		switch {
		case len(data) == 0:
			if !errors.Is(s.Err, ErrMissingData) {
				t.Fatalf("empty data: err = %v", s.Err)
			}
		case !json.Valid(data):
			if !errors.Is(s.Err, ErrBadJSON) || !s.Err.BreaksPulls() {
				t.Fatalf("invalid JSON accepted: err = %v", s.Err)
			}
		}
		// Whatever was parsed must be usable by the keyring without a panic.
		k := NewKeyring(s)
		for _, e := range s.Entries {
			if e.Key.Name() == "" {
				continue
			}
			if img, err := ParseImage(e.Key.Name()); err == nil {
				_ = k.Lookup(img)
				_ = NearMiss(e.Key, img)
			}
		}
	})
}

// FuzzImageReference checks the image path: parsing never panics, normalization is stable,
// and a key naming an image's own registry or repository always matches it.
func FuzzImageReference(f *testing.F) {
	for _, seed := range []string{"nginx", "quay.io/org/app:1", "localhost:5000/a@sha256:" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "[::1]:5000/x", "Reg.Example.com/x"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, ref string) {
		img, err := ParseImage(ref)
		if err != nil {
			return
		}
		again, err := ParseImage(img.Name)
		if err != nil || again.Name != img.Name || again.Registry != img.Registry {
			t.Fatalf("normalization unstable: %q -> %q -> %q (%v)", ref, img.Name, again.Name, err)
		}
		if !ParseKey(img.Registry).Matches(img) {
			t.Fatalf("key %q does not match its own image %q", img.Registry, img.Name)
		}
		if !ParseKey(img.Name).Matches(img) {
			t.Fatalf("key %q does not match its own image", img.Name)
		}
		_ = img.OnDockerHub()
	})
}
