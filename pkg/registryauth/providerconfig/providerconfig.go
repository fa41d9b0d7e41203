// Package providerconfig reads the kubelet's CredentialProviderConfig
// (--image-credential-provider-config) into the matching form pullguard needs: each
// provider's name and matchImages. It reads files, so it lives beside the pure
// pkg/registryauth rather than in it.
package providerconfig

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	kubeletv1 "k8s.io/kubelet/config/v1"
	"sigs.k8s.io/yaml"

	"github.com/pullguard/pullguard/pkg/registryauth"
)

// apiVersions the kubelet accepts for a CredentialProviderConfig; the fields pullguard reads
// are the same in each.
var apiVersions = []string{"kubelet.config.k8s.io/v1", "kubelet.config.k8s.io/v1beta1", "kubelet.config.k8s.io/v1alpha1"}

// Load reads a CredentialProviderConfig file, or as the kubelet does for a directory, its
// *.json, *.yaml and *.yml files in lexical order, merged; a provider name may appear once.
func Load(path string) ([]registryauth.CredentialProvider, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	files := []string{path}
	if info.IsDir() {
		entries, err := os.ReadDir(path)
		if err != nil {
			return nil, err
		}
		files = nil
		for _, e := range entries {
			switch filepath.Ext(e.Name()) {
			case ".json", ".yaml", ".yml":
				if !e.IsDir() {
					files = append(files, filepath.Join(path, e.Name()))
				}
			}
		}
		slices.Sort(files)
		if len(files) == 0 {
			return nil, fmt.Errorf("%s: no *.json, *.yaml or *.yml file", path)
		}
	}
	var out []registryauth.CredentialProvider
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		providers, err := Parse(raw)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		for _, p := range providers {
			if slices.ContainsFunc(out, func(q registryauth.CredentialProvider) bool { return q.Name == p.Name }) {
				return nil, fmt.Errorf("%s: duplicate provider name %q", f, p.Name)
			}
			out = append(out, p)
		}
	}
	return out, nil
}

// Parse decodes one CredentialProviderConfig document, YAML or JSON.
func Parse(raw []byte) ([]registryauth.CredentialProvider, error) {
	var cfg kubeletv1.CredentialProviderConfig
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		return nil, fmt.Errorf("not a CredentialProviderConfig: %w", err)
	}
	if cfg.Kind != "CredentialProviderConfig" || !slices.Contains(apiVersions, cfg.APIVersion) {
		return nil, fmt.Errorf("apiVersion %q kind %q: want kind CredentialProviderConfig of %s", cfg.APIVersion, cfg.Kind, strings.Join(apiVersions, ", "))
	}
	out := make([]registryauth.CredentialProvider, 0, len(cfg.Providers))
	for i, p := range cfg.Providers {
		if p.Name == "" {
			return nil, fmt.Errorf("providers[%d]: name is required", i)
		}
		if len(p.MatchImages) == 0 {
			return nil, fmt.Errorf("provider %q: matchImages is required", p.Name)
		}
		cp, err := registryauth.NewCredentialProvider(p.Name, p.MatchImages)
		if err != nil {
			return nil, err
		}
		out = append(out, cp)
	}
	return out, nil
}
