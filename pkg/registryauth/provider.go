package registryauth

import (
	"fmt"
	"strings"
)

// CredentialProvider is a kubelet credential provider plugin (ECR, Artifact Registry, ACR,
// a service-account token provider) as far as matching goes: the kubelet asks it for a
// credential for every image one of its matchImages patterns matches, after the pod's
// secrets and the node's config.json. pullguard holds no token of a provider, so an image
// it matches is the node's to pull: never probed, never missing.
type CredentialProvider struct {
	Name        string
	MatchImages []Key
}

// NewCredentialProvider parses a provider's matchImages the way the kubelet's
// isImageAllowed compares them with an image (URLsMatchStr: both sides parsed as schemeless
// URLs, then the keyring's port, label-glob and path-prefix rules).
func NewCredentialProvider(name string, matchImages []string) (CredentialProvider, error) {
	p := CredentialProvider{Name: name}
	for _, raw := range matchImages {
		if strings.Contains(raw, "://") {
			return CredentialProvider{}, fmt.Errorf("credential provider %q: matchImages %q must not have a scheme", name, raw)
		}
		host, _, ok := parseSchemeless(raw)
		if !ok || host == "" {
			return CredentialProvider{}, fmt.Errorf("credential provider %q: matchImages %q is not a host or host/path", name, raw)
		}
		p.MatchImages = append(p.MatchImages, keyNamed(raw, raw))
	}
	return p, nil
}

// Matches reports whether the kubelet would ask the provider for the image.
func (p CredentialProvider) Matches(img Image) bool {
	for _, k := range p.MatchImages {
		if k.Matches(img) {
			return true
		}
	}
	return false
}

// ProviderFor returns the first provider, in the configuration's order, that matches the
// image.
func ProviderFor(providers []CredentialProvider, img Image) (CredentialProvider, bool) {
	for _, p := range providers {
		if p.Matches(img) {
			return p, true
		}
	}
	return CredentialProvider{}, false
}
