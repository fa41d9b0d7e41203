package providerconfig

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pullguard/pullguard/pkg/registryauth"
)

const ecr = `apiVersion: kubelet.config.k8s.io/v1
kind: CredentialProviderConfig
providers:
- name: ecr-credential-provider
  matchImages: ["*.dkr.ecr.*.amazonaws.com", "*.dkr.ecr.*.amazonaws.com.cn"]
  defaultCacheDuration: 12h
  apiVersion: credentialprovider.kubelet.k8s.io/v1
`

func TestParse(t *testing.T) {
	ps, err := Parse([]byte(ecr))
	if err != nil {
		t.Fatal(err)
	}
	img, _ := registryauth.ParseImage("123456789012.dkr.ecr.eu-west-1.amazonaws.com/app:1")
	if p, ok := registryauth.ProviderFor(ps, img); !ok || p.Name != "ecr-credential-provider" {
		t.Fatalf("ProviderFor = %v, %v", p, ok)
	}
	for name, doc := range map[string]string{
		"wrong kind":        strings.Replace(ecr, "CredentialProviderConfig", "KubeletConfiguration", 1),
		"wrong apiVersion":  strings.Replace(ecr, "kubelet.config.k8s.io/v1\n", "v1\n", 1),
		"no matchImages":    "apiVersion: kubelet.config.k8s.io/v1\nkind: CredentialProviderConfig\nproviders:\n- name: x\n",
		"pattern w/ scheme": "apiVersion: kubelet.config.k8s.io/v1\nkind: CredentialProviderConfig\nproviders:\n- name: x\n  matchImages: [\"https://a.example.com\"]\n",
		"not yaml":          "{",
	} {
		if _, err := Parse([]byte(doc)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestLoadDirectoryMergesInOrder(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("b.yaml", ecr)
	write("a.json", `{"apiVersion":"kubelet.config.k8s.io/v1","kind":"CredentialProviderConfig","providers":[{"name":"acr","matchImages":["*.azurecr.io"]}]}`)
	write("notes.txt", "ignored")
	ps, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 2 || ps[0].Name != "acr" || ps[1].Name != "ecr-credential-provider" {
		t.Fatalf("providers = %+v", ps)
	}
	write("c.yml", ecr)
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "duplicate provider name") {
		t.Fatalf("duplicate name: %v", err)
	}
}
