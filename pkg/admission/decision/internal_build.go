package decision

import (
	"github.com/pullguard/pullguard/pkg/admission/openshift"
	"github.com/pullguard/pullguard/pkg/registryauth"
)

// checkInternal asks, for a build image on the internal registry in another project,
// whether the account whose token the build uses may pull from it (get
// imagestreams/layers, as system:image-puller grants) or push to it (update, as
// system:image-builder grants). In its own project the builder account has both: OpenShift
// binds system:image-builder to it there.
func (b *buildResolver) checkInternal(id ImageDecision, bi buildImage) ImageDecision {
	if id.Outcome != Covered && id.Outcome != Injected {
		return id
	}
	project, ok := b.internalProject(bi)
	if !ok || project == b.ns {
		return id
	}
	account := b.saName
	if id.Secret != "" && id.Secret != b.saDockercfg {
		s, found := b.f.secret(id.Secret)
		if !found || s.ServiceAccount == "" {
			b.notes = append(b.notes, accessSkippedNote(id.place, id.Image, project, secretSource(id.Secret)))
			return id
		}
		account = s.ServiceAccount
	}
	verb := "get"
	if bi.push {
		verb = "update"
	}
	q := AccessQuestion{Namespace: b.ns, ServiceAccount: account, Project: project, Verb: verb}
	id, note := applyAccess(&b.acc, id, id.place, id.Image, []AccessQuestion{q})
	if note != "" {
		b.notes = append(b.notes, note)
	}
	return id
}

// internalProject returns the project of a build image on the internal registry: an image
// stream's namespace, or the project of a DockerImage on one of the internal registries.
func (b *buildResolver) internalProject(bi buildImage) (string, bool) {
	switch bi.from.Kind {
	case openshift.KindImageStreamTag, openshift.KindImageStreamImage:
		if len(b.f.InternalRegistries) == 0 {
			return "", false
		}
		if bi.from.Namespace == "" {
			return b.ns, true
		}
		return bi.from.Namespace, true
	case openshift.KindDockerImage:
		img, err := registryauth.ParseImage(bi.from.Name)
		if err != nil {
			return "", false
		}
		return b.f.internalProject(img)
	}
	return "", false
}
