package server

import (
	"encoding/json"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/pullguard/pullguard/pkg/admission/decision"
	"github.com/pullguard/pullguard/pkg/registryauth"
)

// TestDecodePodDecidesLikeTheFullPod: the reduced decoding gives the decision exactly what
// a full corev1.Pod would.
func TestDecodePodDecidesLikeTheFullPod(t *testing.T) {
	doc := `
apiVersion: v1
kind: Pod
metadata: {name: web, generateName: web-, namespace: team-a, labels: {app: web}}
spec:
  serviceAccountName: deployer
  imagePullSecrets: [{name: mine}]
  initContainers: [{name: init, image: "ghcr.io/acme/init:1", command: [sh], imagePullPolicy: Never}]
  containers:
  - {name: app, image: "quay.io/acme/app:1", ports: [{containerPort: 80}], resources: {limits: {memory: 1Gi}}}
  - {name: side, image: "registry.redhat.io/ubi9/ubi:9.4"}
  - {name: cached, image: "registry.redhat.io/ubi9/ubi-minimal:9.4", imagePullPolicy: Never}
  ephemeralContainers: [{name: debug, image: "busybox", imagePullPolicy: Never}]
  volumes:
  - {name: data, emptyDir: {}}
  - {name: models, image: {reference: "quay.io/acme/models:v2"}}
  - {name: weights, image: {reference: "registry.redhat.io/acme/weights:v1", pullPolicy: Never}}
`
	raw, err := yaml.YAMLToJSON([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	var full corev1.Pod
	if err := json.Unmarshal(raw, &full); err != nil {
		t.Fatal(err)
	}
	reduced, err := decodePod(raw)
	if err != nil {
		t.Fatal(err)
	}
	private, _ := registryauth.ParsePatterns("registry.redhat.io")
	secret := registryauth.ParseSecret("quay", registryauth.TypeDockerConfigJSON, map[string][]byte{registryauth.KeyDockerConfigJSON: []byte(`{"auths":{"quay.io":{"auth":"dTpw"}}}`)})
	facts := func() *decision.Facts {
		return &decision.Facts{Namespace: "team-a", Secrets: registryauth.NewSecretIndex([]*registryauth.PullSecret{secret}), PrivateRegistries: private, ServiceAccountApplied: true}
	}
	a, b := decision.Pod(&full, facts()), decision.Pod(reduced, facts())
	ja, _ := json.Marshal([]any{a.Name, a.Namespace, a.Images, a.Patch})
	jb, _ := json.Marshal([]any{b.Name, b.Namespace, b.Images, b.Patch})
	if string(ja) != string(jb) {
		t.Fatalf("decisions differ:\nfull    %s\nreduced %s", ja, jb)
	}
	if len(b.Images) != 7 {
		t.Fatalf("want 7 images decided, got %d", len(b.Images))
	}
	// imagePullPolicy: Never reaches the decision from every place an image can be.
	if got := b.Count(decision.Local); got != 4 {
		t.Fatalf("want 4 images local (imagePullPolicy Never), got %d", got)
	}
	if _, err := decodePod([]byte(`{"spec":{"containers":"x"}}`)); err == nil {
		t.Fatal("a malformed pod must not decode")
	}
}

// TestDecodePodReusedKeepsNothing: a Pod handed back for reuse gives the next review
// nothing of the last one: not its containers, service account, secrets or annotations.
func TestDecodePodReusedKeepsNothing(t *testing.T) {
	first := `{"metadata":{"name":"a","namespace":"ns","annotations":{"x":"y"}},"spec":{"serviceAccountName":"builder",` +
		`"imagePullSecrets":[{"name":"s"}],"initContainers":[{"name":"i","image":"init:1"}],` +
		`"containers":[{"name":"c1","image":"one:1","imagePullPolicy":"Never"},{"name":"c2","image":"two:1"},{"name":"c3","image":"three:1"}],` +
		`"volumes":[{"name":"m","image":{"reference":"model:1"}}]}}`
	second := `{"metadata":{"generateName":"b-"},"spec":{"containers":[{"name":"only","image":"four:1"}]}}`
	pod, err := decodePod([]byte(first))
	if err != nil {
		t.Fatal(err)
	}
	releasePod(pod)
	for range 3 { // sync.Pool may hand out a fresh Pod; a few rounds reuse one
		reused, err := decodePod([]byte(second))
		if err != nil {
			t.Fatal(err)
		}
		want := corev1.Pod{}
		want.GenerateName = "b-"
		want.Spec.Containers = []corev1.Container{{Name: "only", Image: "four:1"}}
		got, _ := json.Marshal(reused)
		wantJSON, _ := json.Marshal(want)
		if string(got) != string(wantJSON) {
			t.Fatalf("reused pod\n%s\nwant\n%s", got, wantJSON)
		}
		releasePod(reused)
	}
}
