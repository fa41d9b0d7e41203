package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

var (
	openshiftProjects = flag.Int("openshift-projects", 0, "also seed this many OpenShift-like projects: default, builder and deployer service accounts, each with its managed dockercfg secret (4 internal-registry keys, a 1 KiB token)")
	syncMemProfile    = flag.String("sync-memprofile", "", "write a heap profile of pullguard taken when its caches are synced (alloc_space shows the initial list) to this file")
)

// internalRegistryKeys are the keys of an OpenShift service account's dockercfg secret:
// the image registry's service by its short and full names, its service IP, and the route.
var internalRegistryKeys = []string{
	"image-registry.openshift-image-registry.svc:5000",
	"image-registry.openshift-image-registry.svc.cluster.local:5000",
	"172.30.124.220:5000",
	"default-route-openshift-image-registry.apps.bench.example.com",
}

// projectAccounts are the service accounts every OpenShift project has.
var projectAccounts = []string{"default", "builder", "deployer"}

func projectName(i int) string { return fmt.Sprintf("project-%05d", i) }

// seedOpenShift creates the projects, their service accounts and dockercfg secrets, 16 at a
// time, as OpenShift's controllers leave them: each account lists its secret in
// imagePullSecrets and secrets and names it in the internal-registry-pull-secret-ref
// annotation.
func seedOpenShift(ctx context.Context, cfg *rest.Config) error {
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = 5000, 5000
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	start := time.Now()
	err = inParallel(*openshiftProjects, 1000, "projects", start, func(i int) error {
		return seedProject(ctx, cs, projectName(i))
	})
	if err != nil {
		return fmt.Errorf("seeding projects: %w", err)
	}
	n := *openshiftProjects * len(projectAccounts)
	fmt.Printf("seeded %d projects: %d service accounts and %d dockercfg secrets (%s of secret data), in %s\n",
		*openshiftProjects, n, n, mib(int64(n*len(dockercfg("x", "y")))), time.Since(start).Round(time.Second))
	return nil
}

func seedProject(ctx context.Context, cs kubernetes.Interface, ns string) error {
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns,
		Annotations: map[string]string{"openshift.io/sa.scc.uid-range": "1000660000/10000", "openshift.io/requester": "bench"}}}, metav1.CreateOptions{}); err != nil {
		return err
	}
	for _, sa := range projectAccounts {
		secret := fmt.Sprintf("%s-dockercfg-%s", sa, suffix(ns+sa))
		s := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: secret, Namespace: ns,
				Annotations: map[string]string{"kubernetes.io/service-account.name": sa, "openshift.io/token-secret.name": secret + "-token"}},
			Type: corev1.SecretTypeDockercfg,
			Data: map[string][]byte{corev1.DockerConfigKey: dockercfg(ns, sa)},
		}
		if _, err := cs.CoreV1().Secrets(ns).Create(ctx, s, metav1.CreateOptions{}); err != nil {
			return err
		}
		account := &corev1.ServiceAccount{
			ObjectMeta: metav1.ObjectMeta{Name: sa, Namespace: ns,
				Annotations: map[string]string{"openshift.io/internal-registry-pull-secret-ref": secret}},
			ImagePullSecrets: []corev1.LocalObjectReference{{Name: secret}},
			Secrets:          []corev1.ObjectReference{{Name: secret}},
		}
		if _, err := cs.CoreV1().ServiceAccounts(ns).Create(ctx, account, metav1.CreateOptions{}); err != nil {
			return err
		}
	}
	return nil
}

// dockercfg is a service account's .dockercfg: every internal-registry key with the same
// username, a 1 KiB bound-token stand-in (obviously fake, distinct per account) as password
// and inside auth, and an email.
func dockercfg(ns, sa string) []byte {
	token := fmt.Sprintf("not-a-real-token.%s.%s.", ns, sa)
	token += strings.Repeat("x", 1024-len(token))
	entry := map[string]string{
		"username": "serviceaccount",
		"password": token,
		"email":    "serviceaccount@example.org",
		"auth":     base64.StdEncoding.EncodeToString([]byte("serviceaccount:" + token)),
	}
	cfg := map[string]map[string]string{}
	for _, k := range internalRegistryKeys {
		cfg[k] = entry
	}
	raw, err := json.Marshal(cfg)
	if err != nil {
		panic(err)
	}
	return raw
}

// suffix is a stable five-letter suffix, like the ones OpenShift generates.
func suffix(s string) string {
	const letters = "bcdfghjklmnpqrstvwxz2456789"
	h := uint32(2166136261)
	for i := range len(s) {
		h = (h ^ uint32(s[i])) * 16777619
	}
	out := make([]byte, 5)
	for i := range out {
		out[i] = letters[h%uint32(len(letters))]
		h /= uint32(len(letters))
	}
	return string(out)
}
