package registryauth

import "testing"

// TestCredentialProviderMatches pins matchImages to the kubelet's URLsMatchStr, which the
// kubelet's isImageAllowed applies to the image's normalized name.
func TestCredentialProviderMatches(t *testing.T) {
	tests := []struct {
		name, pattern, image string
		want                 bool
	}{
		{"ECR glob", "*.dkr.ecr.*.amazonaws.com", "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/app:1", true},
		{"ECR glob needs every label", "*.dkr.ecr.*.amazonaws.com", "dkr.ecr.us-east-1.amazonaws.com/app", false},
		{"Artifact Registry", "*-docker.pkg.dev", "europe-west1-docker.pkg.dev/proj/repo/app", true},
		{"ACR", "*.azurecr.io", "acme.azurecr.io/app", true},
		{"star stays inside a label", "*.azurecr.io", "a.b.azurecr.io/app", false},
		{"path prefix", "registry.example.com/team", "registry.example.com/team-b/app", true},
		{"path prefix does not apply", "registry.example.com/team", "registry.example.com/other/app", false},
		{"port must be equal", "registry.example.com", "registry.example.com:5000/app", false},
		{"explicit port", "registry.example.com:5000", "registry.example.com:5000/app", true},
		{"docker hub by normalized name", "docker.io", "nginx", true},
		{"index.docker.io is not docker.io", "index.docker.io", "nginx", false},
		{"case-sensitive", "Registry.example.com", "registry.example.com/app", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := NewCredentialProvider("p", []string{tt.pattern})
			if err != nil {
				t.Fatal(err)
			}
			img, err := ParseImage(tt.image)
			if err != nil {
				t.Fatal(err)
			}
			if got := p.Matches(img); got != tt.want {
				t.Errorf("matchImages %q vs %q = %v, want %v", tt.pattern, tt.image, got, tt.want)
			}
		})
	}
}

func TestCredentialProviderRejectsBadPatterns(t *testing.T) {
	for _, bad := range []string{"https://registry.example.com", "[registry", ""} {
		if _, err := NewCredentialProvider("p", []string{bad}); err == nil {
			t.Errorf("matchImages %q accepted", bad)
		}
	}
}

// TestDockercfgWithAuthsWrapper: the kubelet decodes a .dockercfg into a map of entries, so
// an "auths" wrapper is one more (useless) key and the real top-level keys still count.
func TestDockercfgWithAuthsWrapper(t *testing.T) {
	s := ParseSecret("mixed", TypeDockercfg, map[string][]byte{KeyDockercfg: []byte(`{"auths":{"quay.io":{"auth":"` + testAuth() + `"}},"reg.example.com":{"auth":"` + testAuth() + `"}}`)})
	if !s.Usable() {
		t.Fatalf("the kubelet uses this secret, got %v", s.Err)
	}
	if s.Hint == nil || s.Hint.Fault != ErrAuthsInDockercfg {
		t.Errorf("Hint = %v, want ErrAuthsInDockercfg", s.Hint)
	}
	k := NewKeyring(s)
	if ms := k.Lookup(image(t, "reg.example.com/app")); len(ms) != 1 {
		t.Errorf("top-level key: %d matches, want 1", len(ms))
	}
	if ms := k.Lookup(image(t, "quay.io/acme/app")); len(ms) != 0 {
		t.Errorf("credentials under \"auths\" must not count, got %d matches", len(ms))
	}
}

// TestLocalhostGetsDockerHubFallback: the kubelet's isDefaultRegistryMatch only looks for
// '.' or ':' in the first component, so localhost/x falls back to index.docker.io's
// credentials like any Docker Hub image.
func TestLocalhostGetsDockerHubFallback(t *testing.T) {
	k := NewKeyring(secret(t, "hub", "https://index.docker.io/v1/"))
	if got := matchList(k.Lookup(image(t, "localhost/app"))); len(got) != 1 {
		t.Errorf("localhost/app: %q, want the index.docker.io fallback", got)
	}
	if got := matchList(k.Lookup(image(t, "localhost:5000/app"))); len(got) != 0 {
		t.Errorf("localhost:5000/app: %q, want none (a port makes it a registry)", got)
	}
}
