package registryauth

import "testing"

func TestRelocate(t *testing.T) {
	tests := []struct {
		image, location                 string
		wantName, wantRegistry, wantRef string
		wantRepository                  string
		wantErr                         bool
		matchKey                        string // a kubelet key that must match the relocated image
	}{
		{image: "nginx:1.27", location: "mirror.example.com:5000", wantName: "mirror.example.com:5000/library/nginx", wantRegistry: "mirror.example.com:5000",
			wantRepository: "library/nginx", wantRef: "mirror.example.com:5000/library/nginx:1.27", matchKey: "mirror.example.com:5000/library"},
		{image: "quay.io/team/app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", location: "harbor.example.com/quay-proxy",
			wantName: "harbor.example.com/quay-proxy/team/app", wantRegistry: "harbor.example.com", wantRepository: "quay-proxy/team/app",
			wantRef: "harbor.example.com/quay-proxy/team/app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", matchKey: "harbor.example.com"},
		{image: "quay.io/team/app:1", location: "mirror", wantName: "mirror/team/app", wantRegistry: "mirror", wantRepository: "team/app", wantRef: "mirror/team/app:1", matchKey: "mirror/team"},
		{image: "quay.io/team/app:1", location: "", wantErr: true},
		{image: "quay.io/team/app:1", location: "mirror.example.com/UPPER", wantErr: true},
	}
	for _, tt := range tests {
		got, err := image(t, tt.image).Relocate(tt.location)
		if tt.wantErr {
			if err == nil {
				t.Errorf("%s at %q: no error", tt.image, tt.location)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s at %q: %v", tt.image, tt.location, err)
		}
		if got.Name != tt.wantName || got.Registry != tt.wantRegistry || got.Repository != tt.wantRepository || got.Ref != tt.wantRef {
			t.Errorf("%s at %q: %+v", tt.image, tt.location, got)
		}
		if k := ParseKey(tt.matchKey); !k.Matches(got) {
			t.Errorf("%s at %q: key %q does not match", tt.image, tt.location, tt.matchKey)
		}
	}
}

func TestFullReference(t *testing.T) {
	const digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	for ref, want := range map[string]string{
		"nginx":                        "docker.io/library/nginx:latest",
		"quay.io/team/app:1":           "quay.io/team/app:1",
		"quay.io/team/app@" + digest:   "quay.io/team/app@" + digest,
		"quay.io/team/app:1@" + digest: "quay.io/team/app:1@" + digest,
		"localhost:5000/app:2":         "localhost:5000/app:2",
	} {
		if got := image(t, ref).FullReference(); got != want {
			t.Errorf("FullReference(%q) = %q, want %q", ref, got, want)
		}
	}
}
