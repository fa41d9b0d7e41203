package decision

import (
	"context"

	corev1 "k8s.io/api/core/v1"

	"github.com/pullguard/pullguard/pkg/registryauth"
	"github.com/pullguard/pullguard/pkg/registryauth/mirrors"
)

// Facts is everything the decision needs to know about an object's namespace and cluster.
// The zero value is valid: a namespace with no secrets and no service accounts.
type Facts struct {
	Namespace string
	// Secrets indexes the namespace's pull secrets (malformed ones included).
	Secrets *registryauth.SecretIndex
	// ServiceAccounts finds the namespace's service accounts.
	ServiceAccounts ServiceAccounts
	// Node holds the credentials every node already has (its config.json, the
	// --node-credentials secrets); the kubelet tries them after the pod's secrets.
	Node *registryauth.Keyring
	// NodeAuthFile holds the same sources read as CRI-O reads its auth file
	// (registryauth.ParseAuthFile, ParseSecretAuthFile: only "auth" fields count, a bad
	// one fails only its own key): at an endpoint the kubelet's credential does not reach,
	// CRI-O looks the nodes' credentials up there (Keyring.AuthFileLookup). nil falls back
	// to Node.
	NodeAuthFile *registryauth.Keyring
	// NodeSecrets names the secrets among Node's sources (namespace/name, the
	// --node-credentials flags), for messages that say where to add a credential.
	NodeSecrets []string
	// Providers are the kubelet's credential provider plugins, tried after Node: an image
	// one of them matches is the node's to pull.
	Providers []registryauth.CredentialProvider
	// Mirrors is where the runtime sends pulls (mirror sets, registries.conf, containerd
	// hosts), and whose credential rules apply there; nil mirrors nothing.
	Mirrors *mirrors.Config
	// PrivateRegistries lists registries that always need a credential.
	PrivateRegistries registryauth.Patterns
	// ServiceAccountApplied is set when the object already passed the ServiceAccount
	// admission plugin (in a webhook). When it is unset (manifests read by `webhook check`,
	// workload templates), the plugin's rule is applied here: a pod that lists no pull
	// secrets gets its service account's.
	ServiceAccountApplied bool
	// Verify asks the registries (SPEC section 6): with no Verdicts yet the decision lists
	// its probes in Decision.Probes; with Verdicts it applies them.
	Verify   bool
	Verdicts Verdicts
	// NotSent marks the probes of Verdicts that pkg/admission/verify did not send (its
	// limits per review and per namespace): unavailable, but the registry was not asked,
	// so the runtime is not known to get past that endpoint.
	NotSent map[registryauth.ProbeKey]bool
	// InternalRegistries are OpenShift's internal registry hosts (--internal-registries):
	// an image <host>/<project>/<name> there pulls only if the account whose token the
	// kubelet sends may get imagestreams/layers in <project>. With no Answers yet the
	// decision lists its questions in Decision.Questions; with Answers it applies them.
	InternalRegistries registryauth.Patterns
	Answers            Answers
	// DockercfgWaited is set once the admission step waited for the service accounts of
	// Decision.AwaitDockercfg to name their dockercfg secret: an account that still names
	// none then has no credentials for the internal registry.
	DockercfgWaited bool
	// FailureMessagesOnly skips the messages of images that will pull (covered, node,
	// injected, anonymous): admission shows only failures, and formatting the rest is most
	// of a decision's cost. `webhook check` wants them all.
	FailureMessagesOnly bool
	// Context, when set, ends the decision's optional work (explanations of near misses)
	// once the review it serves is over.
	Context context.Context
}

// ctx returns the context the decision's optional work runs under.
func (f *Facts) ctx() context.Context {
	if f.Context == nil {
		return context.Background()
	}
	return f.Context
}

// ServiceAccounts finds a service account of the namespace by name.
type ServiceAccounts interface {
	ServiceAccount(name string) (*corev1.ServiceAccount, bool)
}

// ServiceAccountMap is a ServiceAccounts backed by a map from name.
type ServiceAccountMap map[string]*corev1.ServiceAccount

// ServiceAccount returns the named service account.
func (m ServiceAccountMap) ServiceAccount(name string) (*corev1.ServiceAccount, bool) {
	sa, ok := m[name]
	return sa, ok
}

func (f *Facts) serviceAccount(name string) (*corev1.ServiceAccount, bool) {
	if f.ServiceAccounts == nil {
		return nil, false
	}
	return f.ServiceAccounts.ServiceAccount(name)
}

// secret returns a named secret of the namespace.
func (f *Facts) secret(name string) (*registryauth.PullSecret, bool) {
	return f.Secrets.Get(name)
}

// anonymousOutcome decides an image no credential matches, before any probe: missing for a
// registry known to be private, anonymous otherwise.
func (f *Facts) anonymousOutcome(img registryauth.Image) Outcome {
	if f.PrivateRegistries.Match(img) {
		return Missing
	}
	return Anonymous
}

// say returns a message of an image that will pull, unless only failures are wanted.
func (f *Facts) say(message func() string) string {
	if f.FailureMessagesOnly {
		return ""
	}
	return message()
}

// authFileLookup is the nodes' auth-file credential CRI-O uses at an endpoint
// (registryauth.Keyring.AuthFileLookup), from NodeAuthFile, else Node.
func (f *Facts) authFileLookup(img registryauth.Image) (registryauth.Match, bool, error) {
	k := f.NodeAuthFile
	if k == nil {
		k = f.Node
	}
	return k.AuthFileLookup(img)
}
