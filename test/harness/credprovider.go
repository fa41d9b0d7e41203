package harness

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// CredentialProviderConfig builds test/harness/credprovider into dir/bin as the plugin
// name and writes a kubelet CredentialProviderConfig naming it for matchImages, answering
// with user and password. It returns the config's path and the plugins' directory.
func CredentialProviderConfig(dir, name string, matchImages []string, user, password string) (config, binDir string, err error) {
	binDir = filepath.Join(dir, "bin")
	if err := os.MkdirAll(binDir, 0o700); err != nil {
		return "", "", err
	}
	cmd := exec.Command("go", "build", "-trimpath", "-o", filepath.Join(binDir, name), "./test/harness/credprovider")
	cmd.Dir = Root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", "", fmt.Errorf("building the credential provider: %v: %s", err, out)
	}
	images := ""
	for _, m := range matchImages {
		images += fmt.Sprintf("  - %q\n", m)
	}
	body := fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1
kind: CredentialProviderConfig
providers:
- name: %s
  apiVersion: credentialprovider.kubelet.k8s.io/v1
  defaultCacheDuration: 1m
  matchImages:
%s  env:
  - {name: PULLGUARD_TEST_USER, value: %q}
  - {name: PULLGUARD_TEST_PASSWORD, value: %q}
`, name, images, user, password)
	config = filepath.Join(dir, "credential-providers.yaml")
	return config, binDir, os.WriteFile(config, []byte(body), 0o600)
}
