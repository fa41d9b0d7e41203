package check

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/dynamic"

	"github.com/pullguard/pullguard/pkg/admission/state"
	"github.com/pullguard/pullguard/pkg/registryauth/mirrors"
)

// mirrorSetObject is a mirror set read from the input or the cluster. Its kind and name
// identify it: one in the input replaces the cluster's of the same kind and name.
type mirrorSetObject struct {
	kind, name string
	set        mirrors.MirrorSet
}

func (m *mirrorSetObject) key() string { return m.kind + "/" + m.name }

// addMirrorSet records a mirror set; a later one of the same kind and name replaces it.
func (w *world) addMirrorSet(m *mirrorSetObject) {
	if i := slices.IndexFunc(w.mirrorSets, func(have *mirrorSetObject) bool { return have.key() == m.key() }); i >= 0 {
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
	// Name order within a kind, as serve lists them.
	ordered := slices.Clone(w.mirrorSets)
	slices.SortStableFunc(ordered, func(a, b *mirrorSetObject) int {
		return cmp.Or(cmp.Compare(kindRank(a.kind), kindRank(b.kind)), strings.Compare(a.name, b.name))
	})
	sets := make([]mirrors.MirrorSet, len(ordered))
	for i, m := range ordered {
		sets[i] = m.set
	}
	if len(sets) > 0 && files.Runtime != mirrors.CRIO {
		fmt.Fprintf(stderr, "note: %d mirror sets (%s ...) are not used: OpenShift's CRI-O nodes follow them, containerd does not; give --runtime=crio\n", len(sets), ordered[0].key())
	}
	if w.mirrors, err = state.MirrorConfig(files.Runtime, sources, sets); err != nil {
		fmt.Fprintf(stderr, "note: the mirror sets are not used: %v\n", err)
	}
	return nil
}

// kindRank orders the kinds as state.MirrorSetKinds lists them (serve's order).
func kindRank(kind string) int {
	return slices.IndexFunc(state.MirrorSetKinds, func(k state.MirrorSetKind) bool { return k.Kind == kind })
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
			w.addMirrorSet(&mirrorSetObject{kind: k.Kind, name: list.Items[i].GetName(), set: set})
		}
	}
	return nil
}
