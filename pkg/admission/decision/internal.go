package decision

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/pullguard/pullguard/pkg/registryauth"
)

// Annotations OpenShift's controllers put on service accounts and their dockercfg secrets.
const (
	// TokenServiceAccountAnnotation names the account whose token a <sa>-dockercfg-* secret
	// carries (OpenShift 4.16 and later).
	TokenServiceAccountAnnotation = "openshift.io/internal-registry-auth-token.service-account"
	// LegacyServiceAccountAnnotation names it on older secrets.
	LegacyServiceAccountAnnotation = "kubernetes.io/service-account.name"
	// PullSecretRefAnnotation on a service account names its dockercfg secret; it is set
	// before the secret exists.
	PullSecretRefAnnotation = "openshift.io/internal-registry-pull-secret-ref"
)

// NotReadyMessage ends the denial of a pod whose service account has no registry
// credentials yet (SPEC section 5).
const NotReadyMessage = "the service account's registry credentials are not ready yet; retry in a few seconds"

// SecretServiceAccount returns the service account a secret's annotations say its token
// belongs to, or "".
func SecretServiceAccount(annotations map[string]string) string {
	if sa := annotations[TokenServiceAccountAnnotation]; sa != "" {
		return sa
	}
	return annotations[LegacyServiceAccountAnnotation]
}

// internalProject returns the project of an image on one of the internal registries: the
// first segment of <host>/<project>/<name>.
func (f *Facts) internalProject(img registryauth.Image) (string, bool) {
	if len(f.InternalRegistries) == 0 || !f.InternalRegistries.Match(img) {
		return "", false
	}
	project, name, ok := strings.Cut(img.Repository, "/")
	if !ok || project == "" || name == "" {
		return "", false
	}
	return project, true
}

// DockercfgSecret returns the name of the account's secret for the internal registry: the one
// its annotation names, else the first <sa>-dockercfg-* it lists.
func DockercfgSecret(sa *corev1.ServiceAccount) string {
	if sa == nil {
		return ""
	}
	if name := sa.Annotations[PullSecretRefAnnotation]; name != "" {
		return name
	}
	prefix := sa.Name + "-dockercfg-"
	for _, ref := range sa.ImagePullSecrets {
		if strings.HasPrefix(ref.Name, prefix) {
			return ref.Name
		}
	}
	for _, ref := range sa.Secrets {
		if strings.HasPrefix(ref.Name, prefix) {
			return ref.Name
		}
	}
	return ""
}

// filled reports whether a secret holds credentials yet: the controller creates a
// dockercfg secret empty and fills its token in afterwards.
func filled(s *registryauth.PullSecret, ok bool) bool {
	return ok && s.Usable() && len(s.Entries) > 0
}

// accessRefusedMessage is the rejection of an image the account may not pull (or push):
// the fix from OpenShift's documentation.
func accessRefusedMessage(p fmt.Stringer, ref string, q AccessQuestion, reason string) string {
	what, role := q.action(), "system:image-puller"
	if q.push() {
		role = "system:image-builder"
	}
	why := ""
	if reason != "" {
		why = ": " + reason
	}
	msg := fmt.Sprintf("%s image %q: service account %q of namespace %q may not %s project %q of the internal registry (the registry asks the API server for %s %s/%s in %q%s); grant it with 'oc policy add-role-to-user %s system:serviceaccount:%s:%s --namespace=%s'",
		p, ref, q.ServiceAccount, q.Namespace, what, q.Project, q.Verb, ImageStreamResource, LayersSubresource, q.Project, why, role, q.Namespace, q.ServiceAccount, q.Project)
	if !q.push() {
		msg += fmt.Sprintf(", or for every service account of %q with 'oc policy add-role-to-group %s system:serviceaccounts:%s --namespace=%s'", q.Namespace, role, q.Namespace, q.Project)
	}
	return msg
}

// accessAdvice is the short fix of a refused pull or push, for warnings.
func accessAdvice(q AccessQuestion) advice {
	if q.push() {
		return advice{fix: fmt.Sprintf("oc policy add-role-to-user system:image-builder system:serviceaccount:%s:%s --namespace=%s", q.Namespace, q.ServiceAccount, q.Project),
			reason: fmt.Sprintf("service account %q may not push to project %q", q.ServiceAccount, q.Project)}
	}
	return advice{fix: fmt.Sprintf("oc policy add-role-to-user system:image-puller system:serviceaccount:%s:%s --namespace=%s", q.Namespace, q.ServiceAccount, q.Project),
		reason: fmt.Sprintf("service account %q may not pull from project %q", q.ServiceAccount, q.Project)}
}

func accessUnavailableMessage(p fmt.Stringer, ref string, q AccessQuestion, reason string) string {
	return fmt.Sprintf("%s image %q: could not ask the API server whether service account %q of namespace %q may %s project %q of the internal registry: %s",
		p, ref, q.ServiceAccount, q.Namespace, q.action(), q.Project, reason)
}

func accessNotCheckedNote(p fmt.Stringer, ref string, q AccessQuestion, reason string) string {
	return fmt.Sprintf("%s image %q: whether service account %q of namespace %q may %s project %q of the internal registry was not checked offline (%s)",
		p, ref, q.ServiceAccount, q.Namespace, q.action(), q.Project, reason)
}

func accessSkippedNote(p fmt.Stringer, ref, project, secret string) string {
	return fmt.Sprintf("%s image %q: pullguard did not check access to project %q of the internal registry: the credential in %s is not a service account's token its annotations name",
		p, ref, project, secret)
}

func notReadyMessage(p place, ref, sa, ns string) string {
	return fmt.Sprintf("%s image %q: service account %q of namespace %q names no dockercfg secret for the internal registry yet (OpenShift creates one for every service account); %s",
		p, ref, sa, ns, NotReadyMessage)
}

func notFilledNote(secret, sa string) string {
	return fmt.Sprintf("pull secret %q of service account %q has no credentials yet (missing or empty): the kubelet reads it again on every pull retry, so the pod pulls from the internal registry once OpenShift fills it in", secret, sa)
}

func dockercfgAddedNote(secret, sa string, ownSecrets bool) string {
	if ownSecrets {
		return fmt.Sprintf("the pod lists its own pull secrets, so the ServiceAccount admission plugin did not add service account %q's pull secret %q for the internal registry; pullguard adds it", sa, secret)
	}
	return fmt.Sprintf("service account %q named its pull secret %q for the internal registry only after the pod was created, so the ServiceAccount admission plugin did not add it; pullguard adds it", sa, secret)
}
