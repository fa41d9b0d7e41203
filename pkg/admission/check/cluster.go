package check

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

func clientset(g genericclioptions.RESTClientGetter) (kubernetes.Interface, error) {
	if err := requireCluster(g); err != nil {
		return nil, err
	}
	cfg, err := g.ToRESTConfig()
	if err != nil {
		return nil, fmt.Errorf("--cluster: %w", clusterError(err))
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("--cluster: %w", err)
	}
	return client, nil
}

// errNoCluster says plainly that no cluster is configured, where kubectl's defaults would
// try http://localhost:8080 and client-go's words ask for the long-gone KUBERNETES_MASTER.
var errNoCluster = errors.New("no cluster configured: give --kubeconfig, set $KUBECONFIG, or create ~/.kube/config (kubectl config view shows what kubectl uses)")

// requireCluster fails when the kubeconfig names no cluster and this is no pod in one.
func requireCluster(g genericclioptions.RESTClientGetter) error {
	raw, err := g.ToRawKubeConfigLoader().RawConfig()
	if err != nil {
		return clusterError(err)
	}
	if len(raw.Clusters) == 0 && os.Getenv("KUBERNETES_SERVICE_HOST") == "" {
		return errNoCluster
	}
	return nil
}

// clusterError says plainly that no cluster is configured: client-go's own words ask for the
// long-gone KUBERNETES_MASTER.
func clusterError(err error) error {
	if err != nil && (clientcmd.IsEmptyConfig(err) || strings.Contains(err.Error(), "no configuration has been provided")) {
		return errNoCluster
	}
	return err
}

// loadCluster reads, for each namespace, its pull secrets (both docker types, selected on
// the server), its service accounts and its labels from the cluster of g.
func (w *world) loadCluster(ctx context.Context, g genericclioptions.RESTClientGetter, namespaces, nodeSecrets []string) error {
	client, err := clientset(g)
	if err != nil {
		return err
	}
	w.reviewWith(client)
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
