package check

import (
	"fmt"
	"os"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/pullguard/pullguard/pkg/admission/access"
	"github.com/pullguard/pullguard/pkg/admission/decision"
	"github.com/pullguard/pullguard/pkg/registryauth"
	"github.com/pullguard/pullguard/pkg/registryauth/mirrors"
)

// world is what check knows of the cluster: per namespace its pull secrets, service accounts
// and labels, the nodes' credentials, and where the nodes pull from.
type world struct {
	secrets     map[string]map[string]*registryauth.PullSecret // namespace, name
	accounts    map[string]decision.ServiceAccountMap
	namespaces  map[string]*corev1.Namespace
	node        *registryauth.Keyring
	nodeSecrets []string // the --node-credentials secrets, namespace/name
	// nodeAuthFile is the same sources as node, read as CRI-O reads its auth file; raw
	// keeps each pull secret's type and data for it (decision.Facts.NodeAuthFile).
	nodeAuthFile *registryauth.Keyring
	raw          map[string]*corev1.Secret // namespace/name
	providers    []registryauth.CredentialProvider
	private      registryauth.Patterns
	// internal are the internal registry hosts; rbac answers their access questions from
	// the input, and review, with --cluster, from the cluster (access.go).
	internal registryauth.Patterns
	rbac     *access.Offline
	review   *access.Reviewer
	// mirrorSets are the cluster's and the input's; mirrors is the configuration built
	// from them and the node's files (mirrors.go).
	mirrorSets []mirrors.MirrorSet
	mirrors    *mirrors.Config

	indexes map[string]*registryauth.SecretIndex
}

func newWorld(private registryauth.Patterns) *world {
	return &world{
		secrets:    map[string]map[string]*registryauth.PullSecret{},
		accounts:   map[string]decision.ServiceAccountMap{},
		namespaces: map[string]*corev1.Namespace{},
		indexes:    map[string]*registryauth.SecretIndex{},
		raw:        map[string]*corev1.Secret{},
		private:    private,
		rbac:       access.NewOffline(),
	}
}

// addSecret records a secret that is, or looks meant to be, a pull secret: the kubelet's
// types, or any type carrying a docker config key (then named as malformed). A later secret
// of the same name replaces an earlier one: manifests are read after the cluster.
func (w *world) addSecret(ns string, s *corev1.Secret) {
	_, hasJSON := s.Data[registryauth.KeyDockerConfigJSON]
	_, hasCfg := s.Data[registryauth.KeyDockercfg]
	if !registryauth.IsPullSecretType(s.Type) && !hasJSON && !hasCfg {
		return
	}
	if w.secrets[ns] == nil {
		w.secrets[ns] = map[string]*registryauth.PullSecret{}
	}
	parsed := registryauth.ParseSecret(s.Name, s.Type, s.Data)
	parsed.ServiceAccount = decision.SecretServiceAccount(s.Annotations)
	w.secrets[ns][s.Name] = parsed
	w.raw[ns+"/"+s.Name] = s
	delete(w.indexes, ns)
}

func (w *world) addServiceAccount(ns string, sa *corev1.ServiceAccount) {
	if w.accounts[ns] == nil {
		w.accounts[ns] = decision.ServiceAccountMap{}
	}
	w.accounts[ns][sa.Name] = sa
}

// addNodeCredentialsSecret adds the pull secret namespace/name, read from the input or the
// cluster, to the nodes' credentials, named as serve names it.
func (w *world) addNodeCredentialsSecret(ref string) error {
	ns, name, ok := strings.Cut(ref, "/")
	if !ok || ns == "" || name == "" || strings.Contains(name, "/") {
		return fmt.Errorf("%q is not namespace/name", ref)
	}
	s, ok := w.secrets[ns][name]
	if !ok {
		return fmt.Errorf("pull secret %s is in neither the input nor, with --cluster, the cluster", ref)
	}
	if s.Err != nil {
		return fmt.Errorf("%s: %w", ref, s.Err)
	}
	named := *s
	named.Name = ref
	w.nodeSecrets = append(w.nodeSecrets, ref)
	if w.node == nil {
		w.node, w.nodeAuthFile = &registryauth.Keyring{}, &registryauth.Keyring{}
	}
	w.node.Add(&named)
	if raw, ok := w.raw[ref]; ok {
		w.nodeAuthFile.Add(registryauth.ParseSecretAuthFile(ref, raw.Type, raw.Data))
	} else {
		w.nodeAuthFile.Add(&named)
	}
	return nil
}

// addNodeCredentialsFile reads a docker config.json every node has.
func (w *world) addNodeCredentialsFile(path string) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	s := registryauth.ParseConfigFile(path, raw)
	if s.Err != nil {
		return fmt.Errorf("--node-credentials-file: %w", s.Err)
	}
	if w.node == nil {
		w.node, w.nodeAuthFile = &registryauth.Keyring{}, &registryauth.Keyring{}
	}
	w.node.Add(s)
	w.nodeAuthFile.Add(registryauth.ParseAuthFile(path, raw))
	return nil
}

func (w *world) facts(ns string) *decision.Facts {
	x, ok := w.indexes[ns]
	if !ok {
		all := make([]*registryauth.PullSecret, 0, len(w.secrets[ns]))
		for _, s := range w.secrets[ns] {
			all = append(all, s)
		}
		x = registryauth.NewSecretIndex(all)
		w.indexes[ns] = x
	}
	return &decision.Facts{
		Namespace:          ns,
		Secrets:            x,
		ServiceAccounts:    w.accounts[ns],
		Node:               w.node,
		NodeAuthFile:       w.nodeAuthFile,
		NodeSecrets:        w.nodeSecrets,
		Providers:          w.providers,
		Mirrors:            w.mirrors,
		PrivateRegistries:  w.private,
		InternalRegistries: w.internal,
	}
}

func (w *world) policy(ns string, defaults decision.Policy) decision.Policy {
	if n, ok := w.namespaces[ns]; ok {
		return decision.PolicyFor(n.Labels, defaults)
	}
	return defaults
}
