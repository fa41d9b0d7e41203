package check

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pullguard/pullguard/pkg/registryauth/mirrors"
)

// TestMirrorSetsFromTheInput: the input's mirror sets (objects, and items of a List) reach
// every decision's facts, as serve builds them; one of the same kind and name read later
// replaces the earlier (manifests over the cluster); with containerd they are not used,
// and a note says so.
func TestMirrorSetsFromTheInput(t *testing.T) {
	dir := t.TempDir()
	manifests := filepath.Join(dir, "sets.yaml")
	if err := os.WriteFile(manifests, []byte(`apiVersion: config.openshift.io/v1
kind: ImageDigestMirrorSet
metadata: {name: ubi-mirror}
spec:
  imageDigestMirrors:
  - {source: registry.redhat.io/ubi9, mirrors: [mirror.corp:5000/ubi9], mirrorSourcePolicy: NeverContactSource}
---
apiVersion: v1
kind: List
items:
- apiVersion: config.openshift.io/v1
  kind: ImageTagMirrorSet
  metadata: {name: quay-tags}
  spec:
    imageTagMirrors:
    - {source: quay.io/acme, mirrors: [mirror.corp:5000/acme]}
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: unrelated}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: team-a}
spec:
  containers: [{name: app, image: quay.io/acme/app:1}]
`), 0o600); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "registries.conf")
	if err := os.WriteFile(conf, []byte("[[registry]]\nlocation = \"docker.io\"\nblocked = true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	in := &input{files: []string{manifests}, getter: (&Options{}).getter()}
	objs, err := in.read()
	if err != nil {
		t.Fatal(err)
	}
	w := newWorld(nil)
	// The cluster's ubi-mirror, replaced by the input's.
	w.addMirrorSet(mirrors.MirrorSet{Kind: mirrors.KindImageDigestMirrorSet, Metadata: mirrors.MirrorSetMeta{Name: "ubi-mirror"}})
	var kinds []string
	for _, obj := range objs {
		if m, ok := obj.Value.(*mirrors.MirrorSet); ok {
			kinds = append(kinds, m.Kind+"/"+m.Metadata.Name)
			w.addMirrorSet(*m)
		}
	}
	if want := []string{"ImageDigestMirrorSet/ubi-mirror", "ImageTagMirrorSet/quay-tags"}; !slices.Equal(kinds, want) {
		t.Fatalf("mirror sets read %v, want %v", kinds, want)
	}
	if len(w.mirrorSets) != 2 {
		t.Fatalf("%d mirror sets; the input's ubi-mirror replaces the cluster's", len(w.mirrorSets))
	}

	var notes bytes.Buffer
	if err := w.buildMirrors(Options{Runtime: "crio", RegistriesConf: conf}, &notes); err != nil {
		t.Fatal(err)
	}
	got := w.facts("team-a").Mirrors
	var prefixes []string
	for _, s := range got.Sources {
		prefixes = append(prefixes, s.Prefix)
	}
	if got.Runtime != mirrors.CRIO || !slices.Equal(prefixes, []string{"docker.io", "registry.redhat.io/ubi9", "quay.io/acme"}) {
		t.Errorf("facts' mirrors: %s %v, want crio with the file's source, then the sets'", got.Runtime, prefixes)
	}
	if i := slices.IndexFunc(got.Sources, func(s mirrors.Source) bool { return s.Prefix == "registry.redhat.io/ubi9" }); i < 0 || !got.Sources[i].Blocked {
		t.Errorf("the input's ubi-mirror (NeverContactSource) is not the one used: %+v", got.Sources)
	}
	if notes.Len() != 0 {
		t.Errorf("notes with crio: %q", notes.String())
	}

	notes.Reset()
	if err := w.buildMirrors(Options{}, &notes); err != nil {
		t.Fatal(err)
	}
	if got := w.facts("team-a").Mirrors; got.Runtime != mirrors.Containerd || len(got.Sources) != 0 {
		t.Errorf("containerd: %+v, want no sources", got)
	}
	if !strings.Contains(notes.String(), "2 mirror sets (ImageDigestMirrorSet/ubi-mirror ...) are not used") {
		t.Errorf("note %q", notes.String())
	}
}
