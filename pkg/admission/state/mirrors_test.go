package state

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	discoveryfake "k8s.io/client-go/discovery/fake"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	"sigs.k8s.io/yaml"

	"github.com/pullguard/pullguard/pkg/registryauth/mirrors"
)

// mirrorSet decodes a mirror set object written as YAML, as the API server serves it.
func mirrorSet(t *testing.T, doc string) mirrors.MirrorSet {
	t.Helper()
	var obj map[string]any
	if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
		t.Fatal(err)
	}
	set, err := DecodeMirrorSet(obj)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

const ubiMirror = `apiVersion: config.openshift.io/v1
kind: ImageDigestMirrorSet
metadata: {name: ubi-mirror}
spec:
  imageDigestMirrors:
  - source: registry.redhat.io/ubi9
    mirrors: [mirror.corp:5000/ubi9]
    mirrorSourcePolicy: NeverContactSource
`

const quayMirror = `apiVersion: config.openshift.io/v1
kind: ImageDigestMirrorSet
metadata: {name: quay-mirror}
spec:
  imageDigestMirrors:
  - source: quay.io
    mirrors: [mirror.corp:5000/quay, backup.corp/quay]
`

// TestMirrorConfig: the configuration a node's runtime has, from its file and the sets, as
// the machine-config operator renders registries.conf.
func TestMirrorConfig(t *testing.T) {
	ubi := mirrorSet(t, ubiMirror)
	quay := mirrorSet(t, quayMirror)
	fromSets := func(sets ...mirrors.MirrorSet) []mirrors.Source { return mirrors.FromMirrorSets(sets) }
	fileMirror := mirrors.Mirror{Location: "file-mirror.corp/ubi9", PullFrom: mirrors.All, Origin: mirrors.OriginRegistriesConf}
	ubiFromSet := fromSets(ubi)[0]
	quayFromSet := fromSets(quay)[0]

	tests := []struct {
		name    string
		runtime mirrors.Runtime
		files   []mirrors.Source
		sets    []mirrors.MirrorSet
		want    []mirrors.Source
	}{
		{"containerd: sets are not used", mirrors.Containerd,
			[]mirrors.Source{{Prefix: "docker.io", Mirrors: []mirrors.Mirror{{Location: "mirror.corp", Origin: "hosts.toml of docker.io"}}}},
			[]mirrors.MirrorSet{ubi},
			[]mirrors.Source{{Prefix: "docker.io", Mirrors: []mirrors.Mirror{{Location: "mirror.corp", Origin: "hosts.toml of docker.io"}}}}},
		{"crio without a file: the sets' sources", mirrors.CRIO, nil, []mirrors.MirrorSet{ubi, quay}, fromSets(ubi, quay)},
		{"crio without sets: the file's sources", mirrors.CRIO,
			[]mirrors.Source{{Prefix: "registry.redhat.io/ubi9", Mirrors: []mirrors.Mirror{fileMirror}}}, nil,
			[]mirrors.Source{{Prefix: "registry.redhat.io/ubi9", Mirrors: []mirrors.Mirror{fileMirror}}}},
		{"the file's entries first, other set sources after", mirrors.CRIO,
			[]mirrors.Source{{Prefix: "docker.io", Blocked: true, BlockedBy: mirrors.OriginRegistriesConf}}, []mirrors.MirrorSet{ubi},
			append([]mirrors.Source{{Prefix: "docker.io", Blocked: true, BlockedBy: mirrors.OriginRegistriesConf}}, ubiFromSet)},
		{"a set's source the file has: its mirrors after the file's, and it blocks", mirrors.CRIO,
			[]mirrors.Source{{Prefix: "registry.redhat.io/ubi9", Mirrors: []mirrors.Mirror{fileMirror}}}, []mirrors.MirrorSet{ubi},
			[]mirrors.Source{{Prefix: "registry.redhat.io/ubi9", Mirrors: append([]mirrors.Mirror{fileMirror}, ubiFromSet.Mirrors...), Blocked: true, BlockedBy: ubiFromSet.BlockedBy}}},
		{"a copy of the node's rendered file is not doubled", mirrors.CRIO,
			[]mirrors.Source{ubiFromSet}, []mirrors.MirrorSet{ubi},
			[]mirrors.Source{ubiFromSet}},
		{"a file entry without mirrors inside a set's source takes its mirrors, with the extra path", mirrors.CRIO,
			[]mirrors.Source{{Prefix: "quay.io/team/app", Location: "quay.io/team/app"}}, []mirrors.MirrorSet{quay},
			append([]mirrors.Source{{Prefix: "quay.io/team/app", Location: "quay.io/team/app", Mirrors: []mirrors.Mirror{
				withLocation(quayFromSet.Mirrors[0], quayFromSet.Mirrors[0].Location+"/team/app"),
				withLocation(quayFromSet.Mirrors[1], quayFromSet.Mirrors[1].Location+"/team/app"),
			}}}, quayFromSet)},
		{"a file entry with mirrors keeps its own", mirrors.CRIO,
			[]mirrors.Source{{Prefix: "quay.io/team", Mirrors: []mirrors.Mirror{fileMirror}}}, []mirrors.MirrorSet{quay},
			append([]mirrors.Source{{Prefix: "quay.io/team", Mirrors: []mirrors.Mirror{fileMirror}}}, quayFromSet)},
		{"a path that only starts like the source is not inside it", mirrors.CRIO,
			[]mirrors.Source{{Prefix: "quay.io.example.com/team", Blocked: true}}, []mirrors.MirrorSet{quay},
			append([]mirrors.Source{{Prefix: "quay.io.example.com/team", Blocked: true}}, quayFromSet)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := cloneSources(tt.files)
			got, err := MirrorConfig(tt.runtime, files, tt.sets)
			if err != nil {
				t.Fatal(err)
			}
			if got.Runtime != tt.runtime {
				t.Errorf("runtime %q, want %q", got.Runtime, tt.runtime)
			}
			if !reflect.DeepEqual(got.Sources, tt.want) && !(len(got.Sources) == 0 && len(tt.want) == 0) {
				t.Errorf("sources\n got %+v\nwant %+v", got.Sources, tt.want)
			}
			if !reflect.DeepEqual(files, tt.files) && !(len(files) == 0 && len(tt.files) == 0) {
				t.Errorf("the file's sources were changed: %+v", files)
			}
		})
	}
}

// TestMirrorConfigRefusedSets: sets the machine-config operator refuses change no node,
// so the configuration is the files' alone, and the error says why.
func TestMirrorConfigRefusedSets(t *testing.T) {
	allow := mirrorSet(t, `apiVersion: config.openshift.io/v1
kind: ImageDigestMirrorSet
metadata: {name: allow}
spec:
  imageDigestMirrors:
  - {source: registry.redhat.io/ubi9, mirrors: [other.corp/ubi9], mirrorSourcePolicy: AllowContactingSource}
`)
	file := []mirrors.Source{{Prefix: "docker.io", Blocked: true}}
	got, err := MirrorConfig(mirrors.CRIO, file, []mirrors.MirrorSet{mirrorSet(t, ubiMirror), allow})
	if err == nil || !errors.Is(err, mirrors.ErrRefusedByMCO) {
		t.Fatalf("err = %v, want the operator's refusal", err)
	}
	if !reflect.DeepEqual(got.Sources, file) {
		t.Errorf("sources %+v, want the file's alone", got.Sources)
	}
	if _, err := MirrorConfig(mirrors.Containerd, file, []mirrors.MirrorSet{mirrorSet(t, ubiMirror), allow}); err != nil {
		t.Errorf("containerd does not use the sets, so nothing is refused: %v", err)
	}
}

func withLocation(m mirrors.Mirror, location string) mirrors.Mirror {
	m.Location = location
	return m
}

// TestStripMirrorSet: what is stored of a mirror set is what the configuration is built
// from, and what the informer needs.
func TestStripMirrorSet(t *testing.T) {
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(`apiVersion: config.openshift.io/v1
kind: ImageDigestMirrorSet
metadata:
  name: ubi-mirror
  uid: 6f1c2b3a-0000-4000-8000-000000000001
  resourceVersion: "42"
  labels: {team: platform}
  annotations: {kubectl.kubernetes.io/last-applied-configuration: "{\"a\": \"whole copy\"}"}
  managedFields: [{manager: kubectl}]
spec:
  imageDigestMirrors:
  - source: registry.redhat.io/ubi9
    mirrors: [mirror.corp:5000/ubi9]
  somethingNew: {x: 1}
status: {observed: true}
`), &u.Object); err != nil {
		t.Fatal(err)
	}
	out, err := stripMirrorSet(u)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(out.(*unstructured.Unstructured).Object)
	want := `{"apiVersion":"config.openshift.io/v1","kind":"ImageDigestMirrorSet","metadata":{"name":"ubi-mirror","resourceVersion":"42","uid":"6f1c2b3a-0000-4000-8000-000000000001"},"spec":{"imageDigestMirrors":[{"mirrors":["mirror.corp:5000/ubi9"],"source":"registry.redhat.io/ubi9"}]}}`
	if string(got) != want {
		t.Errorf("stripped\n got %s\nwant %s", got, want)
	}
	before, _ := json.Marshal(mirrorSetFromUnstructured(t, u))
	after, _ := json.Marshal(mirrorSetFromUnstructured(t, out.(*unstructured.Unstructured)))
	if string(before) != string(after) {
		t.Errorf("stripping changed the mirror set:\n%s\n%s", before, after)
	}
	if other, _ := stripMirrorSet("not unstructured"); other != "not unstructured" {
		t.Errorf("another type is passed through: %v", other)
	}
}

func mirrorSetFromUnstructured(t *testing.T, u *unstructured.Unstructured) mirrors.MirrorSet {
	t.Helper()
	set, err := DecodeMirrorSet(u.Object)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// TestServedMirrorSetKinds: discovery says which kinds are served; a group version the
// server does not know is no error, any other failure is.
func TestServedMirrorSetKinds(t *testing.T) {
	resources := func(gv string, names ...string) *metav1.APIResourceList {
		l := &metav1.APIResourceList{GroupVersion: gv}
		for _, n := range names {
			l.APIResources = append(l.APIResources, metav1.APIResource{Name: n, Verbs: metav1.Verbs{"get", "list", "watch"}})
		}
		return l
	}
	tests := []struct {
		name      string
		resources []*metav1.APIResourceList
		want      []string
	}{
		{"not OpenShift", []*metav1.APIResourceList{resources("v1", "pods")}, nil},
		{"all three", []*metav1.APIResourceList{
			resources("config.openshift.io/v1", "imagedigestmirrorsets", "imagetagmirrorsets", "images"),
			resources("operator.openshift.io/v1alpha1", "imagecontentsourcepolicies"),
		}, []string{"ImageDigestMirrorSet", "ImageTagMirrorSet", "ImageContentSourcePolicy"}},
		{"an older OpenShift: ImageContentSourcePolicy only", []*metav1.APIResourceList{
			resources("config.openshift.io/v1", "images"),
			resources("operator.openshift.io/v1alpha1", "imagecontentsourcepolicies"),
		}, []string{"ImageContentSourcePolicy"}},
		{"a resource that cannot be watched is not served for pullguard", []*metav1.APIResourceList{
			{GroupVersion: "config.openshift.io/v1", APIResources: []metav1.APIResource{{Name: "imagedigestmirrorsets", Verbs: metav1.Verbs{"get"}}}},
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &discoveryfake.FakeDiscovery{Fake: &clienttesting.Fake{Resources: tt.resources}}
			served, err := ServedMirrorSetKinds(d)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, k := range served {
				got = append(got, k.Kind)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("served %v, want %v", got, tt.want)
			}
		})
	}
	t.Run("discovery failing is an error", func(t *testing.T) {
		f := &clienttesting.Fake{}
		f.AddReactor("get", "resource", func(clienttesting.Action) (bool, k8sruntime.Object, error) {
			return true, nil, errors.New("dial tcp 127.0.0.1:6443: connect: connection refused")
		})
		if _, err := ServedMirrorSetKinds(&discoveryfake.FakeDiscovery{Fake: f}); err == nil || !strings.Contains(err.Error(), "connection refused") {
			t.Errorf("err = %v", err)
		}
	})
}

func TestIsMirrorSetKind(t *testing.T) {
	for _, tt := range []struct {
		apiVersion, kind string
		want             bool
	}{
		{"config.openshift.io/v1", "ImageDigestMirrorSet", true},
		{"config.openshift.io/v1", "ImageTagMirrorSet", true},
		{"operator.openshift.io/v1alpha1", "ImageContentSourcePolicy", true},
		{"operator.openshift.io/v1alpha1", "ImageDigestMirrorSet", false},
		{"v1", "ImageContentSourcePolicy", false},
		{"config.openshift.io/v1", "Image", false},
	} {
		if got := IsMirrorSetKind(tt.apiVersion, tt.kind); got != tt.want {
			t.Errorf("IsMirrorSetKind(%s, %s) = %v", tt.apiVersion, tt.kind, got)
		}
	}
}

// TestNodeMirrorFiles: each runtime reads its own file; a file the runtime would not read,
// and a file that does not parse, are errors that name the flag and the file.
func TestNodeMirrorFiles(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "registries.conf")
	writeConfig(t, good, `[[registry]]
location = "registry.redhat.io/ubi9"
blocked = true

[[registry.mirror]]
location = "mirror.corp:5000/ubi9"
pull-from-mirror = "digest-only"
`)
	bad := filepath.Join(dir, "bad.conf")
	writeConfig(t, bad, "[[registry]]\nlocation = \"quay.io\"\nblocked = maybe\n")
	hostsDir := filepath.Join(dir, "certs.d")
	if err := os.Mkdir(hostsDir, 0o700); err != nil {
		t.Fatal(err)
	}

	sources, err := NodeMirrorFiles{Runtime: mirrors.CRIO, RegistriesConf: good}.Read()
	if err != nil {
		t.Fatal(err)
	}
	if len(sources) != 1 || sources[0].Prefix != "registry.redhat.io/ubi9" || !sources[0].Blocked || len(sources[0].Mirrors) != 1 {
		t.Errorf("sources %+v", sources)
	}
	if sources, err := (NodeMirrorFiles{Runtime: mirrors.Containerd}).Read(); err != nil || len(sources) != 0 {
		t.Errorf("no files: %v, %v", sources, err)
	}

	for _, tt := range []struct {
		name  string
		files NodeMirrorFiles
		want  []string
	}{
		{"a line that does not parse", NodeMirrorFiles{Runtime: mirrors.CRIO, RegistriesConf: bad}, []string{"--registries-conf " + bad, "line 3"}},
		{"a file that is not there", NodeMirrorFiles{Runtime: mirrors.CRIO, RegistriesConf: filepath.Join(dir, "none.conf")}, []string{"--registries-conf", "none.conf"}},
		{"registries.conf with containerd", NodeMirrorFiles{Runtime: mirrors.Containerd, RegistriesConf: good}, []string{"--registries-conf is CRI-O's"}},
		{"hosts.toml with CRI-O", NodeMirrorFiles{Runtime: mirrors.CRIO, ContainerdHostsDir: hostsDir}, []string{"--containerd-hosts-dir is containerd's"}},
		{"a hosts directory that is a file", NodeMirrorFiles{Runtime: mirrors.Containerd, ContainerdHostsDir: good}, []string{"--containerd-hosts-dir " + good, "not a directory"}},
		{"no runtime", NodeMirrorFiles{Runtime: "docker"}, []string{`--runtime "docker"`}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.files.Read()
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

// TestFactsCarryTheMirrorConfiguration: every decision's facts carry the configuration
// built from the node's files; without a REST config no mirror set is watched and the
// mirror caches count as synced.
func TestFactsCarryTheMirrorConfiguration(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "registries.conf")
	writeConfig(t, conf, "[[registry]]\nlocation = \"quay.io\"\nblocked = true\n")
	s, err := New(fake.NewClientset(), Options{Mirrors: NodeMirrorFiles{Runtime: mirrors.CRIO, RegistriesConf: conf}})
	if err != nil {
		t.Fatal(err)
	}
	got := s.Facts("team-a").Mirrors
	if got == nil || got.Runtime != mirrors.CRIO || len(got.Sources) != 1 || got.Sources[0].Prefix != "quay.io" || !got.Sources[0].Blocked {
		t.Fatalf("facts' mirrors %+v", got)
	}
	if !s.mirrors.synced() {
		t.Error("with nothing to watch the mirror caches are synced")
	}
	if s.Facts("team-b").Mirrors != got {
		t.Error("every review shares the one configuration")
	}

	s, err = New(fake.NewClientset(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if c := s.Facts("team-a").Mirrors; c == nil || c.Runtime != mirrors.Containerd || len(c.Sources) != 0 {
		t.Errorf("default: %+v, want containerd with no sources", c)
	}
	if _, err := New(fake.NewClientset(), Options{Mirrors: NodeMirrorFiles{Runtime: mirrors.CRIO, RegistriesConf: filepath.Join(t.TempDir(), "none")}}); err == nil {
		t.Error("a registries.conf that cannot be read is an error at start")
	}
}
