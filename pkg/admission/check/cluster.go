package check

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// loadCluster reads, for each namespace, its pull secrets (both docker types, selected on
// the server), its service accounts and its labels from the cluster of kubeconfig (the
// usual loading rules when empty).
func (w *world) loadCluster(ctx context.Context, kubeconfig string, namespaces, nodeSecrets []string) error {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = kubeconfig
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		return fmt.Errorf("--cluster: %w", err)
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("--cluster: %w", err)
	}
	core := client.CoreV1()
	for _, ref := range nodeSecrets {
		ns, name, _ := strings.Cut(ref, "/")
		if ns == "" || name == "" {
			continue // reported with the flag's other errors
		}
		secret, err := core.Secrets(ns).Get(ctx, name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
		case err != nil:
			return fmt.Errorf("--cluster: reading node credentials %s: %w", ref, err)
		default:
			w.addSecret(ns, secret)
		}
	}
	for _, ns := range namespaces {
		for _, typ := range []corev1.SecretType{corev1.SecretTypeDockerConfigJson, corev1.SecretTypeDockercfg} {
			list, err := core.Secrets(ns).List(ctx, metav1.ListOptions{FieldSelector: "type=" + string(typ)})
			if err != nil {
				return fmt.Errorf("--cluster: listing pull secrets of namespace %q: %w", ns, err)
			}
			for i := range list.Items {
				w.addSecret(ns, &list.Items[i])
			}
		}
		accounts, err := core.ServiceAccounts(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return fmt.Errorf("--cluster: listing service accounts of namespace %q: %w", ns, err)
		}
		for i := range accounts.Items {
			w.addServiceAccount(ns, &accounts.Items[i])
		}
		n, err := core.Namespaces().Get(ctx, ns, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
		case err != nil:
			return fmt.Errorf("--cluster: reading namespace %q: %w", ns, err)
		default:
			w.namespaces[ns] = n
		}
	}
	return nil
}
