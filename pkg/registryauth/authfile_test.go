package registryauth

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// authFile is a test auth file: its name and its keys, each with the username of its
// credential ("" for an empty entry, which is how a credential helper marks a key).
type authFile struct {
	name string
	keys map[string]string
}

func parseAuthFile(t *testing.T, f authFile) *PullSecret {
	t.Helper()
	auths := map[string]map[string]string{}
	for key, user := range f.keys {
		auths[key] = map[string]string{}
		if user != "" {
			auths[key]["auth"] = base64.StdEncoding.EncodeToString([]byte(user + ":" + testPassword))
		}
	}
	raw, err := json.Marshal(map[string]any{"auths": auths})
	if err != nil {
		t.Fatal(err)
	}
	s := ParseAuthFile(f.name, raw)
	if s.Err != nil {
		t.Fatalf("auth file %s: %v", f.name, s.Err)
	}
	return s
}

// TestAuthFileLookup checks containers/image's auth file rules (pkg/docker/config
// findCredentialsInFile, authKeyLookupOrder, normalizeAuthFileKey), one rule a case.
func TestAuthFileLookup(t *testing.T) {
	const M = "mirror.example.com:5000"
	tests := []struct {
		name  string
		image string
		files []authFile
		// want is "file:user" of the credential used, "" for none.
		want    string
		wantKey string
	}{
		{
			name:  "repository key is the most specific",
			image: M + "/mirror/team/app:1",
			files: []authFile{{"config.json", map[string]string{M: "host", M + "/mirror": "ns", M + "/mirror/team": "team", M + "/mirror/team/app": "repo"}}},
			want:  "config.json:repo", wantKey: M + "/mirror/team/app",
		},
		{
			name:  "namespace key before its parent and the host",
			image: M + "/mirror/team/app:1",
			files: []authFile{{"config.json", map[string]string{M: "host", M + "/mirror": "ns", M + "/mirror/team": "team"}}},
			want:  "config.json:team", wantKey: M + "/mirror/team",
		},
		{
			name:  "parent namespace before the host",
			image: M + "/mirror/team/app:1",
			files: []authFile{{"config.json", map[string]string{M: "host", M + "/mirror": "ns"}}},
			want:  "config.json:ns",
		},
		{
			name:  "host key last",
			image: M + "/mirror/team/app:1",
			files: []authFile{{"config.json", map[string]string{M: "host"}}},
			want:  "config.json:host", wantKey: M,
		},
		{
			name:  "a partial path component never matches",
			image: M + "/mirror/team/app:1",
			files: []authFile{{"config.json", map[string]string{M + "/mirror/te": "partial", M + "/mir": "partial2"}}},
			want:  "",
		},
		{
			name:  "a partial component does not hide the host key",
			image: M + "/mirror/team/app:1",
			files: []authFile{{"config.json", map[string]string{M + "/mirror/tea": "partial", M: "host"}}},
			want:  "config.json:host",
		},
		{
			name:  "a key below the repository does not match",
			image: M + "/mirror/team:1",
			files: []authFile{{"config.json", map[string]string{M + "/mirror/team/app": "deeper"}}},
			want:  "",
		},
		{
			name:  "a host without its port never matches host:port",
			image: M + "/mirror/app:1",
			files: []authFile{{"config.json", map[string]string{"mirror.example.com": "noport", "mirror.example.com/mirror": "noport-ns"}}},
			want:  "",
		},
		{
			name:  "another port is another host",
			image: M + "/mirror/app:1",
			files: []authFile{{"config.json", map[string]string{"mirror.example.com:5001": "other"}}},
			want:  "",
		},
		{
			name:  "no kubelet globs",
			image: M + "/mirror/app:1",
			files: []authFile{{"config.json", map[string]string{"*.example.com:5000": "glob", "*.example.com": "glob2"}}},
			want:  "",
		},
		{
			name:  "a key with a scheme counts for its bare host, path dropped",
			image: M + "/mirror/app:1",
			files: []authFile{{"config.json", map[string]string{"https://" + M + "/other/path": "url"}}},
			want:  "config.json:url", wantKey: M,
		},
		{
			name:  "a key with a scheme comes after every exact key",
			image: M + "/mirror/app:1",
			files: []authFile{{"config.json", map[string]string{"https://" + M + "/mirror/app": "url", M: "host"}}},
			want:  "config.json:host",
		},
		{
			name:  "http scheme too",
			image: M + "/mirror/app:1",
			files: []authFile{{"config.json", map[string]string{"http://" + M: "url"}}},
			want:  "config.json:url",
		},
		{
			name:  "a key with a scheme keeps its port rule",
			image: M + "/mirror/app:1",
			files: []authFile{{"config.json", map[string]string{"https://mirror.example.com/v1/": "url"}}},
			want:  "",
		},
		{
			name:  "a plain key with a path is never reduced to its host",
			image: M + "/mirror/app:1",
			files: []authFile{{"config.json", map[string]string{M + "/other": "other"}}},
			want:  "",
		},
		{
			name:  "docker.io images use the index.docker.io key",
			image: "nginx:1.27",
			files: []authFile{{"config.json", map[string]string{"https://index.docker.io/v1/": "hub"}}},
			want:  "config.json:hub",
		},
		{
			name:  "registry-1.docker.io stands for Docker Hub",
			image: "library/nginx:1.27",
			files: []authFile{{"config.json", map[string]string{"registry-1.docker.io": "hub"}}},
			want:  "config.json:hub",
		},
		{
			name:  "docker.io repository keys are exact",
			image: "docker.io/team/app:1",
			files: []authFile{{"config.json", map[string]string{"docker.io/team": "team", "index.docker.io": "hub"}}},
			want:  "config.json:team",
		},
		{
			name:  "index.docker.io/team is not an exact key of docker.io/team",
			image: "docker.io/team/app:1",
			files: []authFile{{"config.json", map[string]string{"index.docker.io/team": "team"}}},
			want:  "",
		},
		{
			name:  "files are the outer loop: a host key in the first file wins over a repository key in the second",
			image: M + "/mirror/app:1",
			files: []authFile{
				{"first.json", map[string]string{M: "first-host"}},
				{"second.json", map[string]string{M + "/mirror/app": "second-repo"}},
			},
			want: "first.json:first-host",
		},
		{
			name:  "an empty entry passes on to the next file",
			image: M + "/mirror/app:1",
			files: []authFile{
				{"first.json", map[string]string{M + "/mirror/app": "", M: "first-host"}},
				{"second.json", map[string]string{M: "second-host"}},
			},
			want: "second.json:second-host",
		},
		{
			name:  "case matters",
			image: M + "/mirror/app:1",
			files: []authFile{{"config.json", map[string]string{"MIRROR.example.com:5000": "upper"}}},
			want:  "",
		},
		{
			name:  "another registry's keys do not match",
			image: "quay.io/team/app:1",
			files: []authFile{{"config.json", map[string]string{M: "m", "quay.io.evil": "evil", "https://quay.io.evil/x": "evil2"}}},
			want:  "",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var files []*PullSecret
			for _, f := range tt.files {
				files = append(files, parseAuthFile(t, f))
			}
			k := NewKeyring(files...)
			m, ok, err := k.AuthFileLookup(image(t, tt.image))
			if err != nil {
				t.Fatal(err)
			}
			got := ""
			if ok {
				got = m.Secret + ":" + m.Credential.Username()
				if m.Credential.Password() != testPassword {
					t.Errorf("password not carried")
				}
			}
			if got != tt.want {
				t.Fatalf("AuthFileLookup(%s) = %q, want %q", tt.image, got, tt.want)
			}
			if tt.wantKey != "" && m.Key != tt.wantKey {
				t.Errorf("Key = %q, want %q", m.Key, tt.wantKey)
			}
		})
	}
}

func TestAuthFileLookupNilKeyring(t *testing.T) {
	var k *Keyring
	if _, ok, _ := k.AuthFileLookup(image(t, "quay.io/a/b")); ok {
		t.Fatal("nil keyring found a credential")
	}
}

// TestParseAuthFile checks containers/image's reading of an auth file (pkg/docker/config
// dockerAuthConfig, decodeDockerAuth), where it differs from the kubelet's.
func TestParseAuthFile(t *testing.T) {
	const M = "mirror.example.com:5000"
	auth := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	tests := []struct {
		name, file string
		fault      error  // the file is malformed
		want       string // user of the credential AuthFileLookup returns for M/team/app, "" for none
		badAuth    bool   // the lookup picks an undecodable entry: ErrBadAuth
	}{
		{name: "auth field", file: `{"auths":{"` + M + `":{"auth":"` + auth("alice:"+testPassword) + `"}}}`, want: "alice"},
		{name: "username and password without auth carry nothing", file: `{"auths":{"` + M + `":{"username":"alice","password":"` + testPassword + `"}}}`},
		{name: "auth wins over username and password", file: `{"auths":{"` + M + `":{"username":"bob","password":"x","auth":"` + auth("alice:"+testPassword) + `"}}}`, want: "alice"},
		{name: "auth without a colon carries nothing", file: `{"auths":{"` + M + `":{"auth":"` + auth("alice") + `"}}}`},
		{name: "trailing NULs of the password are dropped", file: `{"auths":{"` + M + `":{"auth":"` + auth("alice:"+testPassword+"\x00\x00") + `"}}}`, want: "alice"},
		{name: "unpadded base64 fails the lookup", file: `{"auths":{"` + M + `":{"auth":"` + strings.TrimRight(auth("alice:"+testPassword+"x"), "=") + `"}}}`, badAuth: true},
		{name: "not base64 fails the lookup", file: `{"auths":{"` + M + `":{"auth":"!!!"}}}`, badAuth: true},
		{name: "a bad key's siblings are kept", file: `{"auths":{"` + M + `/team/app":{"auth":"` + auth("alice:"+testPassword) + `"},"` + M + `":{"auth":"!!!"}}}`, want: "alice"},
		{name: "a bad key fails the lookup even when a less specific one is good", file: `{"auths":{"` + M + `/team":{"auth":"!!!"},"` + M + `":{"auth":"` + auth("alice:"+testPassword) + `"}}}`, badAuth: true},
		{name: "no auths is an empty file", file: `{"credHelpers":{"` + M + `":"ecr-login"}}`},
		{name: "invalid JSON", file: `{"auths":`, fault: ErrBadJSON},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := ParseAuthFile("config.json", []byte(tt.file))
			if tt.fault != nil {
				if s.Err == nil || !errors.Is(s.Err, tt.fault) {
					t.Fatalf("Err = %v, want %v", s.Err, tt.fault)
				}
				return
			}
			if s.Err != nil {
				t.Fatalf("Err = %v", s.Err)
			}
			m, ok, err := NewKeyring(s).AuthFileLookup(image(t, M+"/team/app:1"))
			if tt.badAuth {
				if !ok || !errors.Is(err, ErrBadAuth) || s.Hint == nil || !errors.Is(s.Hint, ErrBadAuth) {
					t.Fatalf("lookup = %v, %v, hint %v; want ErrBadAuth from a usable file that says so", ok, err, s.Hint)
				}
				if strings.Contains(err.Error(), testPassword) {
					t.Fatalf("the error shows the password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := m.Credential.Username(); ok != (tt.want != "") || got != tt.want {
				t.Fatalf("lookup = %q, %v; want %q", got, ok, tt.want)
			}
			if ok && m.Credential.Password() != testPassword {
				t.Fatalf("password not as written")
			}
		})
	}
}

func FuzzParseAuthFile(f *testing.F) {
	f.Add([]byte(`{"auths":{"mirror.example.com:5000/team":{"auth":"YWxpY2U6cGFzcw=="},"https://m.example.com/x":{}}}`), "mirror.example.com:5000/team/app:1")
	f.Add([]byte(`{"auths":{"https://index.docker.io/v1/":{"auth":"YWxpY2U6cGFzcw=="}}}`), "nginx")
	f.Fuzz(func(t *testing.T, raw []byte, ref string) {
		s := ParseAuthFile("fuzz", raw)
		if s == nil || s.Name != "fuzz" {
			t.Fatal("no file returned")
		}
		img, err := ParseImage(ref)
		if err != nil {
			return
		}
		m, ok, err := NewKeyring(s).AuthFileLookup(img)
		if ok && (s.Err != nil || m.Secret != "fuzz" || m.Credential.Empty() != (err != nil)) {
			t.Fatalf("match %+v from file with Err %v", m, s.Err)
		}
	})
}

// TestParseSecretAuthFile: a pull secret the nodes hold as their auth file is read by
// containers/image's rules, not the kubelet's: a username and password without "auth" is
// no credential there, though the kubelet uses it.
func TestParseSecretAuthFile(t *testing.T) {
	const M = "mirror.example.com:5000"
	entry := `{"` + M + `":{"username":"alice","password":"` + testPassword + `"},"quay.io":{"auth":"` + base64.StdEncoding.EncodeToString([]byte("bob:"+testPassword)) + `"}}`
	for _, tt := range []struct {
		typ, key, raw string
	}{
		{TypeDockerConfigJSON, KeyDockerConfigJSON, `{"auths":` + entry + `}`},
		{TypeDockercfg, KeyDockercfg, entry},
	} {
		data := map[string][]byte{tt.key: []byte(tt.raw)}
		kubelet := NewKeyring(ParseSecret("ns/pull", tt.typ, data))
		file := NewKeyring(ParseSecretAuthFile("ns/pull", tt.typ, data))
		if ms := kubelet.Lookup(image(t, M+"/a:1")); len(ms) != 1 {
			t.Fatalf("%s: the kubelet reads %d credentials for %s, want 1", tt.typ, len(ms), M)
		}
		if m, ok, err := file.AuthFileLookup(image(t, M+"/a:1")); ok || err != nil {
			t.Errorf("%s: the auth file has %+v (%v) for %s, want none (no auth field)", tt.typ, m.Key, err, M)
		}
		if m, ok, _ := file.AuthFileLookup(image(t, "quay.io/a:1")); !ok || m.Credential.Username() != "bob" {
			t.Errorf("%s: the auth file has %q for quay.io, want bob", tt.typ, m.Credential.Username())
		}
	}
	// What is wrong with a secret that is no auth file is what the kubelet's reading says;
	// a key present but empty is a file that is not JSON.
	for _, tt := range []struct {
		typ  string
		data map[string][]byte
		want error
	}{
		{"Opaque", map[string][]byte{}, ErrUnknownType},
		{TypeDockerConfigJSON, map[string][]byte{}, ErrMissingData},
		{TypeDockercfg, map[string][]byte{KeyDockerConfigJSON: []byte("{}")}, ErrMissingData},
		{TypeDockerConfigJSON, map[string][]byte{KeyDockerConfigJSON: nil}, ErrBadJSON},
		{TypeDockercfg, map[string][]byte{KeyDockercfg: {}}, ErrBadJSON},
	} {
		if s := ParseSecretAuthFile("ns/x", tt.typ, tt.data); s.Err == nil || !errors.Is(s.Err, tt.want) {
			t.Errorf("%s %v: err %v, want %v", tt.typ, tt.data, s.Err, tt.want)
		}
	}
}
