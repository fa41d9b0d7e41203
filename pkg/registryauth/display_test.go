package registryauth

import (
	"strings"
	"testing"
)

func TestKeyDisplay(t *testing.T) {
	tests := []struct{ raw, want string }{
		{"https://robot:s3cr3t@quay.io:444", "https://quay.io:444"},
		{"robot:s3cr3t@quay.io/org", "quay.io/org"},
		{"https://quay.io/org@x/y", "https://quay.io/org@x/y"}, // '@' in the path is not userinfo
		{"quay.io\x1b[31m\n", "quay.io[31m"},
		{"https://index.docker.io/v1/", "https://index.docker.io/v1/"},
		{strings.Repeat("a", 300), strings.Repeat("a", maxDisplay) + "..."},
	}
	for _, tt := range tests {
		if got := ParseKey(tt.raw).Display(); got != tt.want {
			t.Errorf("Display(%q) = %q, want %q", tt.raw, got, tt.want)
		}
	}
}

// TestNearMissNeverShowsUserinfo: issue 11's key https://robot:s3cr3t@quay.io:444, one port
// away from the image, is explained without its password.
func TestNearMissNeverShowsUserinfo(t *testing.T) {
	img := image(t, "quay.io/acme/app")
	why := NearMiss(ParseKey("https://robot:s3cr3t@quay.io:444"), img)
	if why == "" || strings.Contains(why, "s3cr3t") || strings.Contains(why, "robot") {
		t.Fatalf("near miss: %q", why)
	}
}

// TestMalformedSecretNeverShowsUserinfo: a bad "auth" entry is named by its key, without
// the userinfo written into it.
func TestMalformedSecretNeverShowsUserinfo(t *testing.T) {
	s := ParseSecret("bad", TypeDockerConfigJSON, map[string][]byte{KeyDockerConfigJSON: []byte(`{"auths":{"https://robot:s3cr3t@quay.io":{"auth":"***"}}}`)})
	if s.Err == nil || strings.Contains(s.Err.Error(), "s3cr3t") || !strings.Contains(s.Err.Error(), "quay.io") {
		t.Fatalf("error: %v", s.Err)
	}
}
