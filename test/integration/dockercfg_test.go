package integration

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/pullguard/pullguard/pkg/admission/decision"
	"github.com/pullguard/pullguard/pkg/admission/state"
	"github.com/pullguard/pullguard/pkg/registryauth"
)

// openshiftRegistryKeys are the keys of an OpenShift service account's dockercfg secret.
var openshiftRegistryKeys = []string{
	"image-registry.openshift-image-registry.svc:5000",
	"image-registry.openshift-image-registry.svc.cluster.local:5000",
	"172.30.124.220:5000",
	"default-route-openshift-image-registry.apps.example.com",
}

// TestDockercfgCredentialHeldOnce: an OpenShift-style dockercfg secret repeats one token
// under four keys, as password and inside auth. Read from the API server through pullguard's
// caches, the secret holds that credential once, and matching and probing still see every
// key: each image on each of the four registries is covered by it, and each is planned for a
// probe with it.
func TestDockercfgCredentialHeldOnce(t *testing.T) {
	ns := namespace(t, "dockercfg-once", nil)
	token := testPassword + "." + strings.Repeat("t", 1000)
	entry := map[string]string{
		"username": "serviceaccount", "password": token, "email": "serviceaccount@example.org",
		"auth": base64.StdEncoding.EncodeToString([]byte("serviceaccount:" + token)),
	}
	cfg := map[string]map[string]string{}
	for _, k := range openshiftRegistryKeys {
		cfg[k] = entry
	}
	raw, _ := json.Marshal(cfg)
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "builder-dockercfg-abcde", Namespace: ns},
		Type: corev1.SecretTypeDockercfg, Data: map[string][]byte{corev1.DockerConfigKey: raw}}
	if _, err := cluster.Client.CoreV1().Secrets(ns).Create(context.Background(), secret, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	st, err := state.New(cluster.Client, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st.Start(ctx)
	if !st.WaitForSync(ctx) {
		t.Fatal("caches did not sync")
	}
	var parsed *registryauth.PullSecret
	for parsed == nil {
		if s, ok := st.Facts(ns).Secrets.Get(secret.Name); ok {
			parsed = s
		} else if ctx.Err() != nil {
			t.Fatal("the secret never reached the cache")
		} else {
			time.Sleep(20 * time.Millisecond)
		}
	}
	if parsed.Err != nil || len(parsed.Entries) != len(openshiftRegistryKeys) {
		t.Fatalf("parsed %d entries, %v", len(parsed.Entries), parsed.Err)
	}
	for _, e := range parsed.Entries[1:] {
		if e.Credential != parsed.Entries[0].Credential {
			t.Fatalf("key %s holds its own copy of the credential", e.Key.Raw)
		}
	}

	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: ns},
		Spec: corev1.PodSpec{ImagePullSecrets: []corev1.LocalObjectReference{{Name: secret.Name}}}}
	for i, k := range openshiftRegistryKeys {
		pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: fmt.Sprintf("c%d", i), Image: k + "/" + ns + "/app:1"})
	}
	facts := st.Facts(ns)
	facts.Verify = true
	d := decision.Pod(pod, facts)
	if d.Count(decision.Covered) != len(openshiftRegistryKeys) {
		t.Fatalf("covered %d of %d images: %+v", d.Count(decision.Covered), len(openshiftRegistryKeys), d.Images)
	}
	probed := map[string]bool{}
	for _, p := range d.Probes {
		if p.Credential == nil || p.Credential.Password() != token || p.Credential.Username() != "serviceaccount" {
			t.Fatalf("probe of %s planned without the secret's credential", p.Image.Registry)
		}
		probed[p.Image.Registry] = true
	}
	for _, k := range openshiftRegistryKeys {
		if !probed[k] {
			t.Errorf("no probe planned for %s", k)
		}
	}
}
