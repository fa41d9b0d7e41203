package registryauth

import (
	"encoding/base64"
	"encoding/json"
	"testing"
)

// Test credentials are obviously fake; tests check they never appear in any output.
const (
	testUser     = "pullguard-test"
	testPassword = "test-password-not-real"
)

func testAuth() string {
	return base64.StdEncoding.EncodeToString([]byte(testUser + ":" + testPassword))
}

// configJSON returns a .dockerconfigjson body with one entry per key.
func configJSON(t testing.TB, keys ...string) []byte {
	t.Helper()
	auths := map[string]map[string]string{}
	for _, k := range keys {
		auths[k] = map[string]string{"auth": testAuth()}
	}
	b, err := json.Marshal(map[string]any{"auths": auths})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// secret returns a parsed kubernetes.io/dockerconfigjson secret holding keys.
func secret(t testing.TB, name string, keys ...string) *PullSecret {
	t.Helper()
	s := ParseSecret(name, TypeDockerConfigJSON, map[string][]byte{KeyDockerConfigJSON: configJSON(t, keys...)})
	if s.Err != nil {
		t.Fatalf("secret %s: %v", name, s.Err)
	}
	return s
}

func image(t testing.TB, ref string) Image {
	t.Helper()
	img, err := ParseImage(ref)
	if err != nil {
		t.Fatalf("ParseImage(%q): %v", ref, err)
	}
	return img
}
