package kubelet

import (
	"runtime/debug"
	"slices"
	"testing"
)

// TestSpecMatchingTable pins SPEC section 3's matching table against the kubelet's own
// BasicDockerKeyring (a Kubernetes release that changes a row fails here, naming the row)
// and checks that pullguard's keyring agrees. Each secret holds one key; want lists the
// secrets the kubelet tries, in order.
func TestSpecMatchingTable(t *testing.T) {
	type sec struct{ name, key string }
	tests := []struct {
		name    string
		image   string
		secrets []sec
		want    []string
	}{
		{name: "docker login's key covers nginx", image: "nginx", secrets: []sec{{"a", "https://index.docker.io/v1/"}}, want: []string{"a"}},
		{name: "docker.io covers nginx", image: "nginx", secrets: []sec{{"a", "docker.io"}}, want: []string{"a"}},
		{name: "index.docker.io covers nginx", image: "nginx", secrets: []sec{{"a", "index.docker.io"}}, want: []string{"a"}},
		{name: "registry-1.docker.io does not", image: "nginx", secrets: []sec{{"a", "registry-1.docker.io"}}},
		{name: "index.docker.io/v1 without the slash does not", image: "nginx", secrets: []sec{{"a", "index.docker.io/v1"}}},
		{name: "docker.io/library covers nginx", image: "nginx", secrets: []sec{{"a", "docker.io/library"}}, want: []string{"a"}},
		{name: "index.docker.io/library does not", image: "nginx", secrets: []sec{{"a", "index.docker.io/library"}}},
		{name: "path is a plain string prefix", image: "quay.io/organization/app", secrets: []sec{{"a", "quay.io/org"}}, want: []string{"a"}},
		{name: "a trailing slash is part of the prefix", image: "quay.io/org", secrets: []sec{{"a", "quay.io/org/"}}},
		{name: "a glob stays in one label", image: "a.b.example.com/x", secrets: []sec{{"a", "*.example.com"}}},
		{name: "a glob needs a label", image: "example.com/x", secrets: []sec{{"a", "*.example.com"}}},
		{name: "*.* covers any two labels", image: "ghcr.io/o/r", secrets: []sec{{"a", "*.*"}}, want: []string{"a"}},
		{name: "ports must be equal", image: "reg.example.com:5000/x", secrets: []sec{{"a", "reg.example.com"}}},
		{name: "a glob with the port", image: "reg.example.com:5000/x", secrets: []sec{{"a", "*.example.com:5000"}}, want: []string{"a"}},
		{name: "case-sensitive", image: "Reg.Example.com/x", secrets: []sec{{"a", "reg.example.com"}}},
		{
			name:    "every match counts, by key in reverse lexical order",
			image:   "reg.example.com/org/app",
			secrets: []sec{{"host", "reg.example.com"}, {"glob", "*.example.com/org"}, {"path", "reg.example.com/org"}},
			want:    []string{"path", "host", "glob"},
		},
		{name: "same key: imagePullSecrets order", image: "quay.io/org/app", secrets: []sec{{"b", "quay.io"}, {"a", "quay.io"}}, want: []string{"b", "a"}},
		{name: "the fallback only when nothing matched", image: "nginx", secrets: []sec{{"hub", "https://index.docker.io/v1/"}, {"lib", "docker.io/library"}}, want: []string{"lib"}},
		{name: "the fallback when other keys miss", image: "nginx", secrets: []sec{{"hub", "https://index.docker.io/v1/"}, {"acme", "docker.io/acme"}}, want: []string{"hub"}},
		{name: "no fallback off Docker Hub", image: "quay.io/org/app", secrets: []sec{{"hub", "https://index.docker.io/v1/"}}},
		{name: "localhost/x takes the fallback (isDefaultRegistryMatch)", image: "localhost/x", secrets: []sec{{"hub", "index.docker.io"}}, want: []string{"hub"}},
		{name: "localhost:5000/x does not", image: "localhost:5000/x", secrets: []sec{{"hub", "index.docker.io"}}},
		{name: "scheme and /v2/ dropped", image: "quay.io/org/app", secrets: []sec{{"a", "http://quay.io/v2/org"}}, want: []string{"a"}},
		{name: "a key that is not a URL is ignored", image: "quay.io/org/app", secrets: []sec{{"a", "quay.io:bad"}}},
		{name: "userinfo is dropped from the key", image: "quay.io/org/app", secrets: []sec{{"a", "user@quay.io"}}, want: []string{"a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var secrets []secretSpec
			for _, s := range tt.secrets {
				secrets = append(secrets, secretSpec{Name: s.name, Kind: configJSON, Entries: []entry{{Key: s.key}}})
			}
			kubelet, pullguard, err := lookupBoth(secrets, tt.image)
			if err != nil {
				t.Fatal(err)
			}
			want := []string{}
			for _, name := range tt.want {
				i := slices.IndexFunc(tt.secrets, func(s sec) bool { return s.name == name })
				want = append(want, name+" "+kubeletKey(tt.secrets[i].key))
			}
			if !slices.Equal(kubelet, want) {
				t.Errorf("kubelet %s tries %q for %q; SPEC section 3 says %q: update the SPEC and pullguard", kubeletVersion(), kubelet, tt.image, want)
			}
			if !slices.Equal(pullguard, kubelet) {
				t.Errorf("pullguard finds %q for %q; the kubelet tries %q", pullguard, tt.image, kubelet)
			}
		})
	}
}

// kubeletVersion names the release of the oracle, for messages.
func kubeletVersion() string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, m := range info.Deps {
			if m.Path == "k8s.io/kubernetes" {
				return m.Version
			}
		}
	}
	return "(unknown version)"
}
