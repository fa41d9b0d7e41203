package registryauth

import (
	"strings"
	"testing"
)

func TestNearMiss(t *testing.T) {
	tests := []struct {
		name, key, image, want string // want: a fragment of the explanation, "" for none
	}{
		{"port differs", "reg.example.com", "reg.example.com:5000/app", "is for no port but the image uses port 5000"},
		{"port differs the other way", "reg.example.com:5000", "reg.example.com/app", "is for port 5000 but the image uses no port"},
		{"star spans two labels", "*.example.com", "a.b.example.com/app", "'*' matches inside one DNS label only"},
		{"case differs in host", "reg.example.com", "Reg.Example.com/app", "only in case"},
		{"registry-1.docker.io", "registry-1.docker.io", "nginx", "use https://index.docker.io/v1/ or docker.io"},
		{"index.docker.io/v1 without slash", "index.docker.io/v1", "nginx", "needs its trailing slash"},
		{"index.docker.io with a path", "index.docker.io/library", "nginx", "use docker.io/library"},
		{"path prefix does not apply", "quay.io/team-b", "quay.io/team-a/app", "is scoped to quay.io/team-b, which is not a prefix of quay.io/team-a/app"},
		{"trailing slash on the repo itself", "quay.io/org/", "quay.io/org", "ends with '/'"},
		{"matching key is no near miss", "quay.io", "quay.io/a/b", ""},
		{"unrelated registry is no near miss", "ghcr.io", "quay.io/a/b", ""},
		{"unrelated docker hub key", "quay.io", "nginx", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := NearMiss(ParseKey(tt.key), image(t, tt.image))
			if tt.want == "" {
				if got != "" {
					t.Fatalf("NearMiss = %q, want none", got)
				}
				return
			}
			if !strings.Contains(got, tt.want) {
				t.Fatalf("NearMiss = %q, want it to contain %q", got, tt.want)
			}
		})
	}
}
