package main

import (
	"context"
	"flag"
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/pullguard/pullguard/pkg/admission/state"
)

var mirrorSets = flag.Int("mirror-sets", 50, "ImageDigestMirrorSets to create before pullguard starts (issue 16: the bench must hold its targets with 50 loaded); one of them mirrors the load's quay.io image, so every review routes through a mirror set")

// seedMirrorSets creates n mirror sets: n-1 ImageDigestMirrorSets for sources the load never
// pulls, and one ImageTagMirrorSet for the repository of the load's quay.io image (a tag).
// pullguard then runs with --runtime=crio (mirror sets are OpenShift's, whose nodes run
// CRI-O) and without verification: the image is anonymous at the mirror as at the source, so
// the mirror changes no answer, the expected patch stays the same, and the bench measures
// the routing's cost.
func seedMirrorSets(ctx context.Context, cfg *rest.Config, n int) error {
	if n <= 0 {
		return nil
	}
	client, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	idms, itms := state.MirrorSetKinds[0], state.MirrorSetKinds[1] // ImageDigestMirrorSet, ImageTagMirrorSet
	for i := range n {
		kind, field := idms, "imageDigestMirrors"
		source, mirror := fmt.Sprintf("registry-%d.mirrored.example.com/team", i), fmt.Sprintf("mirror-%d.example.com:5000/team", i)
		if i == 0 {
			kind, field = itms, "imageTagMirrors"
			source, mirror = "quay.io/prometheus", "mirror.bench.test/prometheus"
		}
		set := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": kind.GroupVersion().String(),
			"kind":       kind.Kind,
			"metadata":   map[string]any{"name": fmt.Sprintf("bench-%02d", i)},
			"spec": map[string]any{field: []any{
				map[string]any{"source": source, "mirrors": []any{mirror}},
			}},
		}}
		if _, err := client.Resource(kind.GroupVersionResource()).Create(ctx, set, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("mirror set %d: %w", i, err)
		}
	}
	fmt.Printf("seeded %d mirror sets\n", n)
	return nil
}
