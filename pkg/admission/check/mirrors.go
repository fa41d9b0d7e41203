package check

import (
	"context"
	"fmt"
	"io"
	"slices"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/dynamic"

	"github.com/pullguard/pullguard/pkg/admission/state"
	"github.com/pullguard/pullguard/pkg/registryauth/mirrors"
)

// addMirrorSet records a mirror set read from the input or the cluster; a later one of the
// same kind and name replaces it (the input's over the cluster's).
func (w *world) addMirrorSet(m mirrors.MirrorSet) {
	if i := slices.IndexFunc(w.mirrorSets, func(have mirrors.MirrorSet) bool {
		return have.Kind == m.Kind && have.Metadata.Name == m.Metadata.Name
	}); i >= 0 {
		w.mirrorSets[i] = m
		return
	}
	w.mirrorSets = append(w.mirrorSets, m)
}

// buildMirrors reads the node's mirror files and builds, with the mirror sets, the
// configuration every decision gets, as serve builds it (state.MirrorConfig). With
// containerd the sets are not used, and a note says so.
func (w *world) buildMirrors(o Options, stderr io.Writer) error {
	files, err := o.nodeMirrorFiles()
	if err != nil {
		return err
	}
	sources, err := files.Read()
	if err != nil {
		return err
	}
	// The note names the first set read; state.MirrorConfig orders the sets itself.
	if sets := w.mirrorSets; len(sets) > 0 && files.Runtime != mirrors.CRIO {
		fmt.Fprintf(stderr, "note: %d mirror sets (%s/%s ...) are not used: OpenShift's CRI-O nodes follow them, containerd does not; give --runtime=crio\n", len(sets), sets[0].Kind, sets[0].Metadata.Name)
	}
	if w.mirrors, err = state.MirrorConfig(files.Runtime, sources, w.mirrorSets); err != nil {
		fmt.Fprintf(stderr, "note: the mirror sets are not used: %v\n", err)
	}
	return nil
}

// loadClusterMirrorSets reads the mirror sets of the kinds the cluster serves. One the user
// may not list is a note, not an error: the input's and the flags' then decide.
func (w *world) loadClusterMirrorSets(ctx context.Context, g genericclioptions.RESTClientGetter, note func(string)) error {
	client, err := clientset(g)
	if err != nil {
		return err
	}
	served, err := state.ServedMirrorSetKinds(client.Discovery())
	if err != nil {
		return fmt.Errorf("--cluster: %w", err)
	}
	if len(served) == 0 {
		return nil
	}
	cfg, err := g.ToRESTConfig()
	if err != nil {
		return fmt.Errorf("--cluster: %w", clusterError(err))
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("--cluster: %w", err)
	}
	for _, k := range served {
		list, err := dyn.Resource(k.GroupVersionResource()).List(ctx, metav1.ListOptions{})
		switch {
		case apierrors.IsForbidden(err):
			note(fmt.Sprintf("may not list %s: the cluster's are not used", k.Resource))
			continue
		case err != nil:
			return fmt.Errorf("--cluster: listing %s: %w", k.Resource, err)
		}
		for i := range list.Items {
			set, err := state.DecodeMirrorSet(list.Items[i].Object)
			if err != nil {
				return fmt.Errorf("--cluster: %w", err)
			}
			w.addMirrorSet(set)
		}
	}
	return nil
}
