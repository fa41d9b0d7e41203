package kubelet

import (
	"slices"
	"testing"
)

// TestPodsTable pins hand-written pods from SPEC sections 3 and 5 and issue 10: the kubelet's
// answer for the pod as pullguard should leave it (final), then pullguard against the
// kubelet on the pod as created.
func TestPodsTable(t *testing.T) {
	node := newKubeletNode(t)
	one := func(keys ...string) []entry {
		out := make([]entry, len(keys))
		for i, k := range keys {
			out[i] = entry{Key: k}
		}
		return out
	}
	const nodeSrc = nodePrefix + nodeSourceName
	tests := []struct {
		name string
		pod  podCase
		// final is the pod's imagePullSecrets once pullguard patched it.
		final []string
		// want is, per image, the sources the kubelet tries on the final pod; nil when it
		// fails every pull.
		want [][]string
	}{
		{
			name:  "pod secrets first, then the node's",
			pod:   podCase{Images: []string{"quay.io/acme/app:1.0"}, Refs: []string{"mine"}, Secrets: []secretSpec{{Name: "mine", Entries: one("quay.io")}}, Node: one("quay.io")},
			final: []string{"mine"},
			want:  [][]string{{"mine", nodeSrc}},
		},
		{
			name:  "the fallback is per keyring: the pod's fallback, then the node's direct match",
			pod:   podCase{Images: []string{"nginx"}, Refs: []string{"hub"}, Secrets: []secretSpec{{Name: "hub", Entries: one("https://index.docker.io/v1/")}}, Node: one("docker.io")},
			final: []string{"hub"},
			want:  [][]string{{"hub", nodeSrc}},
		},
		{
			name:  "the pod's direct match, then the node's fallback",
			pod:   podCase{Images: []string{"nginx"}, Refs: []string{"lib"}, Secrets: []secretSpec{{Name: "lib", Entries: one("docker.io/library")}}, Node: one("https://index.docker.io/v1/")},
			final: []string{"lib"},
			want:  [][]string{{"lib", nodeSrc}},
		},
		{
			name: "an injected docker.io key ends another image's fallback",
			pod: podCase{
				Images: []string{"quay.io/acme/app:1.0", "nginx:1.27"}, Refs: []string{"hub"},
				Secrets: []secretSpec{{Name: "hub", Entries: one("index.docker.io")}, {Name: "team", Entries: one("quay.io", "docker.io/library")}},
			},
			final: []string{"hub", "team"},
			want:  [][]string{{"team"}, {"team"}},
		},
		{
			name:  "a namespace secret is injected though the node's credentials match",
			pod:   podCase{Images: []string{"registry.redhat.io/ubi9/ubi:9.4"}, Secrets: []secretSpec{{Name: "rh", Entries: one("registry.redhat.io")}}, Node: one("registry.redhat.io")},
			final: []string{"rh"},
			want:  [][]string{{"rh", nodeSrc}},
		},
		{
			name: "one malformed pull secret fails every pull of the pod",
			pod: podCase{
				Images: []string{"quay.io/acme/app:1.0", "nginx"}, Refs: []string{"bad", "good"},
				Secrets: []secretSpec{{Name: "bad", Kind: badJSON, Entries: one("quay.io")}, {Name: "good", Entries: one("quay.io")}},
			},
			final: []string{"bad", "good"},
			want:  [][]string{nil, nil},
		},
		{
			name:  "a .dockercfg holding an auths key keeps its real keys",
			pod:   podCase{Images: []string{"quay.io/acme/app:1.0"}, Refs: []string{"legacy"}, Secrets: []secretSpec{{Name: "legacy", Kind: dockercfgAuths, Entries: one("quay.io")}}},
			final: []string{"legacy"},
			want:  [][]string{{"legacy"}},
		},
		{
			name:  "localhost/x is Docker Hub to the fallback",
			pod:   podCase{Images: []string{"localhost/x"}, Refs: []string{"hub"}, Secrets: []secretSpec{{Name: "hub", Entries: one("index.docker.io")}}},
			final: []string{"hub"},
			want:  [][]string{{"hub"}},
		},
		{
			name:  "a missing pull secret is skipped",
			pod:   podCase{Images: []string{"quay.io/acme/app:1.0"}, Refs: []string{"ghost", "mine"}, Secrets: []secretSpec{{Name: "mine", Entries: one("quay.io")}}},
			final: []string{"ghost", "mine"},
			want:  [][]string{{"mine"}},
		},
		{
			name:  "a secret of another type is ignored",
			pod:   podCase{Images: []string{"quay.io/acme/app:1.0"}, Refs: []string{"opaque"}, Secrets: []secretSpec{{Name: "opaque", Kind: opaqueType, Entries: one("quay.io")}}, Node: one("quay.io")},
			final: []string{"opaque"},
			want:  [][]string{{nodeSrc}},
		},
		{
			name:  "auth overrides username, padded or not",
			pod:   podCase{Images: []string{"quay.io/acme/app:1.0"}, Refs: []string{"a", "b"}, Secrets: []secretSpec{{Name: "a", Entries: []entry{{Key: "quay.io", Form: authUnpaddedForm}}}, {Name: "b", Entries: []entry{{Key: "quay.io", Form: authPaddedForm}}}}},
			final: []string{"a", "b"},
			want:  [][]string{{"a", "b"}},
		},
		{
			name:  "nothing matches: an anonymous pull",
			pod:   podCase{Images: []string{"ghcr.io/o/r"}, Secrets: []secretSpec{{Name: "quay", Entries: one("quay.io")}}, Node: one("quay.io")},
			final: nil,
			want:  [][]string{{}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			final := clone(tt.pod)
			final.Refs = tt.final
			nodeKeyring, err := node.keyring(nodeConfig(final.Node))
			if err != nil {
				t.Fatal(err)
			}
			pod, ns := final.pod(), final.namespace()
			for i, image := range final.Images {
				pull := kubeletLookup(pod, ns, nodeKeyring, image)
				var got []string
				if pull.err == nil {
					if got, err = kubeletSources(pull.creds); err != nil {
						t.Fatal(err)
					}
				}
				if !slices.Equal(got, tt.want[i]) || (got == nil) != (tt.want[i] == nil) {
					t.Errorf("kubelet %s tries %q for %q (error %v); this table says %q", kubeletVersion(), got, image, pull.err, tt.want[i])
				}
			}

			_, _, finalPod, err := pullguard(tt.pod)
			if err != nil {
				t.Fatal(err)
			}
			if got := refNames(finalPod); !slices.Equal(got, tt.final) && len(got)+len(tt.final) > 0 {
				t.Errorf("pullguard leaves the pod with imagePullSecrets %q, want %q", got, tt.final)
			}
			for _, f := range check(node, tt.pod, nil) {
				t.Errorf("pullguard disagrees with the kubelet: %s", f)
			}
		})
	}
}
