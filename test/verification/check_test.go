package verification

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/pullguard/pullguard/pkg/admission/check"
	"github.com/pullguard/pullguard/test/harness"
)

// TestCheckVerify runs `webhook check --verify` offline against the registries: the
// manifests carry their own pull secrets.
func TestCheckVerify(t *testing.T) {
	secret := func(name, registry, pass string) string {
		return fmt.Sprintf("apiVersion: v1\nkind: Secret\nmetadata: {name: %s, namespace: ci}\ntype: kubernetes.io/dockerconfigjson\nstringData:\n  .dockerconfigjson: '%s'\n---\n",
			name, harness.DockerConfigJSON(registry, user, pass))
	}
	pod := func(name, image string) string {
		return fmt.Sprintf("apiVersion: v1\nkind: Pod\nmetadata: {name: %s, namespace: ci}\nspec: {containers: [{name: app, image: %q}]}\n---\n", name, image)
	}
	manifest := secret("good", basic.Host, password) + secret("expired", token.Host, stalePassword) +
		pod("good", basic.Host+"/acme/app:1.0") + pod("typo", basic.Host+"/acme/app:1.0-typo") +
		pod("expired", token.Host+"/acme/app:1.0") + pod("public", anonymous.Host+"/acme/app:1.0")
	var stdout, stderr bytes.Buffer
	code := check.Run(context.Background(), check.Options{
		Files: []string{"-"}, Verify: true, VerifyTimeout: 3 * time.Second, RegistryCAFiles: []string{tlsFiles.CAFile},
		VerifyDenyNetworks: []netip.Prefix{}, // the test registries are on loopback
	}, strings.NewReader(manifest), &stdout, &stderr)
	if code != check.ExitDenied {
		t.Fatalf("exit %d, want %d\n%s%s", code, check.ExitDenied, stdout.String(), stderr.String())
	}
	out := stdout.String()
	assertContains(t, out,
		"Pod ci/good (<stdin>: document 3): patched",
		`tag "1.0-typo" does not exist`,
		`registry refused the credentials in secret "expired" for `+token.Host+`: HTTP 401`,
		"Pod ci/public (<stdin>: document 6): admitted",
		"serves the image anonymously",
		"4 objects, 4 images (1 injected, 1 anonymous, 2 rejected): 2 denied, 1 patched, 1 admitted")
	if strings.Contains(out+stderr.String(), password) || strings.Contains(out+stderr.String(), stalePassword) {
		t.Fatal("check printed a password")
	}
}
