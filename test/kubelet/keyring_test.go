package kubelet

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/kubernetes/pkg/credentialprovider"
	"k8s.io/kubernetes/pkg/util/parsers"

	"github.com/pullguard/pullguard/pkg/registryauth"
)

// TestKeyringAgainstKubelet compares registryauth.Keyring.Lookup with the kubelet's
// BasicDockerKeyring.Lookup on the same secrets, credential by credential: it catches a
// matching regression directly, without the decision on top.
func TestKeyringAgainstKubelet(t *testing.T) {
	g := newGenerator(*seed + 1)
	shownN, failing, lookups := 0, 0, 0
	for n := range *cases {
		secrets, images := g.keyringCase()
		k, err := buildBoth(secrets)
		if err != nil {
			t.Fatalf("case %d: %v", n, err)
		}
		for _, image := range images {
			lookups++
			kubelet, pullguard := k.lookup(image)
			if slices.Equal(kubelet, pullguard) {
				continue
			}
			failing++
			if shownN < *shown {
				shownN++
				t.Errorf("case %d (seed %d): image %q\n%s  kubelet:   %q\n  pullguard: %q", n, *seed+1, image, describeSecrets(secrets), kubelet, pullguard)
			}
		}
	}
	if failing > 0 {
		t.Errorf("%d of %d lookups disagree with the kubelet", failing, lookups)
	}
	t.Logf("%d keyrings, %d lookups (seed %d)", *cases, lookups, *seed+1)
}

// keyrings holds the kubelet's keyring and pullguard's, built from the same secrets in the
// same order.
type keyrings struct {
	kubelet   *credentialprovider.BasicDockerKeyring
	pullguard *registryauth.Keyring
	rawKeyOf  map[string]string // username -> the raw key it was written under
}

func buildBoth(secrets []secretSpec) (*keyrings, error) {
	k := &keyrings{kubelet: &credentialprovider.BasicDockerKeyring{}, rawKeyOf: map[string]string{}}
	var parsed []*registryauth.PullSecret
	for _, s := range secrets {
		for i, e := range s.Entries {
			k.rawKeyOf[userOf(s.Name, i)] = e.Key
		}
		sec := s.secret()
		src := &credentialprovider.CredentialSource{Secret: &credentialprovider.SecretCoordinates{Name: s.Name, Namespace: sec.Namespace}}
		// As secretsToTrackedDockerConfigs decodes them.
		if s.Kind == dockercfg {
			cfg := credentialprovider.DockerConfig{}
			if err := json.Unmarshal(sec.Data[corev1.DockerConfigKey], &cfg); err != nil {
				return nil, err
			}
			k.kubelet.Add(src, cfg)
		} else {
			cfg := credentialprovider.DockerConfigJSON{}
			if err := json.Unmarshal(sec.Data[corev1.DockerConfigJsonKey], &cfg); err != nil {
				return nil, err
			}
			k.kubelet.Add(src, cfg.Auths)
		}
		parsed = append(parsed, registryauth.ParseSecret(sec.Name, sec.Type, sec.Data))
	}
	k.pullguard = registryauth.NewKeyring(parsed...)
	return k, nil
}

// lookupBoth builds both keyrings and looks the image up; see keyrings.lookup.
func lookupBoth(secrets []secretSpec, image string) (kubelet, pullguard []string, err error) {
	k, err := buildBoth(secrets)
	if err != nil {
		return nil, nil, err
	}
	kubelet, pullguard = k.lookup(image)
	return kubelet, pullguard, nil
}

// lookup returns each keyring's answer for the image as "secret key" per run of credentials:
// the secret a credential came from and the kubelet key it was filed under. Credentials of
// one secret under one key are merged, because the kubelet adds a secret's keys in map
// order, so two spellings of one key in one secret ("quay.io" and "https://quay.io") come
// back in either order.
func (k *keyrings) lookup(image string) (kubelet, pullguard []string) {
	repo, _, _, kerr := parsers.ParseImageName(image)
	img, perr := registryauth.ParseImage(image)
	if (kerr == nil) != (perr == nil) {
		return []string{fmt.Sprintf("parse error: %v", kerr)}, []string{fmt.Sprintf("parse error: %v", perr)}
	}
	if kerr != nil {
		return nil, nil
	}
	if img.Name != repo {
		return []string{"name " + repo}, []string{"name " + img.Name}
	}

	run := func(out []string, secret, user string) []string {
		item := secret + " " + kubeletKey(k.rawKeyOf[user])
		if len(out) > 0 && out[len(out)-1] == item {
			return out
		}
		return append(out, item)
	}
	creds, _ := k.kubelet.Lookup(repo)
	kubelet = []string{}
	for _, c := range creds {
		secret, _, _ := strings.Cut(c.Username, "#")
		kubelet = run(kubelet, secret, c.Username)
	}
	pullguard = []string{}
	for _, m := range k.pullguard.Lookup(img) {
		user := m.Credential.Username()
		if secret, _, _ := strings.Cut(user, "#"); secret != m.Secret {
			pullguard = append(pullguard, fmt.Sprintf("%s: credential of user %q", m.Secret, user))
			continue
		}
		if want := kubeletKey(m.RawKey); m.Key != want || k.rawKeyOf[user] != m.RawKey {
			pullguard = append(pullguard, fmt.Sprintf("%s: key %q raw %q (kubelet files it under %q)", m.Secret, m.Key, m.RawKey, want))
			continue
		}
		pullguard = run(pullguard, m.Secret, user)
	}
	return kubelet, pullguard
}

func describeSecrets(secrets []secretSpec) string {
	var b strings.Builder
	for _, s := range secrets {
		fmt.Fprintf(&b, "  secret %q (%s): keys %s\n", s.Name, s.Kind, keysOf(s.Entries))
	}
	return b.String()
}
