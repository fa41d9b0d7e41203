package kubelet

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// A case is described by plain values, so that it can be printed, shrunk and turned into
// both the kubelet's inputs and pullguard's.

const (
	testNamespace = "team"
	// fakePassword is every credential's password: obviously not a real one.
	fakePassword = "not-a-real-password-x"
)

// entryForm is how an entry spells its credential.
type entryForm int

const (
	plainForm        entryForm = iota // {"username": ..., "password": ...}
	authPaddedForm                    // {"auth": base64 padded, "username": "decoy"}: auth wins
	authUnpaddedForm                  // the same without base64 padding
)

// entry is one registry key of a docker config. Its username is derived from its source and
// position (userOf), so the kubelet's answers can be mapped back.
type entry struct {
	Key  string
	Form entryForm
}

// secretKind is the shape of a generated secret.
type secretKind int

const (
	configJSON            secretKind = iota // kubernetes.io/dockerconfigjson with {"auths": ...}
	dockercfg                               // kubernetes.io/dockercfg, keys at the top level
	dockercfgAuths                          // a .dockercfg that also holds an "auths" key
	noAuthsWrapper                          // a .dockerconfigjson with its keys at the top level
	opaqueType                              // type Opaque holding a .dockerconfigjson
	emptyData                               // kubernetes.io/dockerconfigjson with no data
	badJSON                                 // truncated JSON: the kubelet fails every pull of the pod
	badAuth                                 // an "auth" that is not base64 of user:password: the same
	configJSONCapitalized                   // {"Auths": ...}: encoding/json matches field names case-insensitively
)

func (k secretKind) String() string {
	return [...]string{"dockerconfigjson", "dockercfg", "dockercfg+auths", "dockerconfigjson-without-auths", "opaque", "empty", "bad-json", "bad-auth", "dockerconfigjson-Auths"}[k]
}

// breaksPulls says whether the kubelet fails every pull of a pod listing such a secret
// (MakeDockerKeyring returns the decoding error).
func (k secretKind) breaksPulls() bool { return k == badJSON || k == badAuth }

type secretSpec struct {
	Name    string
	Kind    secretKind
	Entries []entry
}

// podCase is one pod, its namespace and its node.
type podCase struct {
	// Images are the pod's images: Containers[i] for the first len-Init-Volume, then
	// Init init containers and Volume image volumes.
	Images []string
	Init   int
	Volume int
	// Refs is the pod's imagePullSecrets; a name with no secret is a missing secret.
	Refs []string
	// Secrets are the namespace's secrets, the pod's among them.
	Secrets []secretSpec
	// Node is the node's config.json; NodeNil gives pullguard no node keyring at all.
	Node    []entry
	NodeNil bool
}

func (e entry) json(user string) map[string]string {
	switch e.Form {
	case authPaddedForm:
		return map[string]string{"username": "decoy", "auth": base64.StdEncoding.EncodeToString([]byte(user + ":" + fakePassword))}
	case authUnpaddedForm:
		return map[string]string{"username": "decoy", "auth": base64.RawStdEncoding.EncodeToString([]byte(user + ":" + fakePassword))}
	default:
		return map[string]string{"username": user, "password": fakePassword}
	}
}

func entriesJSON(source string, entries []entry) map[string]any {
	out := make(map[string]any, len(entries))
	for i, e := range entries {
		out[e.Key] = e.json(userOf(source, i))
	}
	return out
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// nodeConfig is the node's config.json.
func nodeConfig(entries []entry) []byte {
	return mustJSON(map[string]any{"auths": entriesJSON(nodeUser, entries)})
}

// secret builds the Kubernetes secret.
func (s secretSpec) secret() corev1.Secret {
	sec := corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: s.Name, Namespace: testNamespace, UID: types.UID("uid-" + s.Name)},
		Type:       corev1.SecretTypeDockerConfigJson,
	}
	keys := entriesJSON(s.Name, s.Entries)
	switch s.Kind {
	case configJSON:
		sec.Data = map[string][]byte{corev1.DockerConfigJsonKey: mustJSON(map[string]any{"auths": keys})}
	case configJSONCapitalized:
		sec.Data = map[string][]byte{corev1.DockerConfigJsonKey: mustJSON(map[string]any{"Auths": keys})}
	case dockercfg:
		sec.Type = corev1.SecretTypeDockercfg
		sec.Data = map[string][]byte{corev1.DockerConfigKey: mustJSON(keys)}
	case dockercfgAuths:
		sec.Type = corev1.SecretTypeDockercfg
		withAuths := map[string]any{"auths": map[string]any{"quay.io": map[string]string{"username": "decoy", "password": fakePassword}}}
		for k, v := range keys {
			withAuths[k] = v
		}
		sec.Data = map[string][]byte{corev1.DockerConfigKey: mustJSON(withAuths)}
	case noAuthsWrapper:
		sec.Data = map[string][]byte{corev1.DockerConfigJsonKey: mustJSON(keys)}
	case opaqueType:
		sec.Type = corev1.SecretTypeOpaque
		sec.Data = map[string][]byte{corev1.DockerConfigJsonKey: mustJSON(map[string]any{"auths": keys})}
	case emptyData:
		sec.Data = map[string][]byte{}
	case badJSON:
		full := mustJSON(map[string]any{"auths": keys})
		sec.Data = map[string][]byte{corev1.DockerConfigJsonKey: full[:len(full)-1]}
	case badAuth:
		keys["bad.example.com"] = map[string]string{"auth": "bm9jb2xvbg=="} // base64("nocolon")
		sec.Data = map[string][]byte{corev1.DockerConfigJsonKey: mustJSON(map[string]any{"auths": keys})}
	}
	return sec
}

// pod builds the pod as the API server hands it to admission (the ServiceAccount plugin
// already ran; the pod names no service account with secrets).
func (c podCase) pod() *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: testNamespace, UID: "uid-p"},
	}
	for _, name := range c.Refs {
		p.Spec.ImagePullSecrets = append(p.Spec.ImagePullSecrets, corev1.LocalObjectReference{Name: name})
	}
	nContainers := len(c.Images) - c.Init - c.Volume
	for i, img := range c.Images {
		switch {
		case i < nContainers:
			p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: fmt.Sprintf("c%d", i), Image: img})
		case i < nContainers+c.Init:
			p.Spec.InitContainers = append(p.Spec.InitContainers, corev1.Container{Name: fmt.Sprintf("i%d", i), Image: img})
		default:
			p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: fmt.Sprintf("v%d", i), VolumeSource: corev1.VolumeSource{Image: &corev1.ImageVolumeSource{Reference: img}}})
		}
	}
	return p
}

// namespace returns the namespace's secrets by name.
func (c podCase) namespace() map[string]corev1.Secret {
	out := make(map[string]corev1.Secret, len(c.Secrets))
	for _, s := range c.Secrets {
		out[s.Name] = s.secret()
	}
	return out
}

func (c podCase) spec(name string) (secretSpec, bool) {
	i := slices.IndexFunc(c.Secrets, func(s secretSpec) bool { return s.Name == name })
	if i < 0 {
		return secretSpec{}, false
	}
	return c.Secrets[i], true
}

// String prints the case as a reproduction: what a person needs to rebuild it by hand.
func (c podCase) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "  images: %q (init containers: %d, image volumes: %d)\n", c.Images, c.Init, c.Volume)
	fmt.Fprintf(&b, "  pod imagePullSecrets: %q\n", c.Refs)
	for _, s := range c.Secrets {
		where := "namespace"
		if slices.Contains(c.Refs, s.Name) {
			where = "pod"
		}
		fmt.Fprintf(&b, "  %s secret %q (%s): keys %s\n", where, s.Name, s.Kind, keysOf(s.Entries))
	}
	switch {
	case c.NodeNil:
		fmt.Fprintf(&b, "  node: no config for pullguard (kubelet: empty config.json)\n")
	default:
		fmt.Fprintf(&b, "  node config.json: keys %s\n", keysOf(c.Node))
	}
	return b.String()
}

func keysOf(entries []entry) string {
	keys := make([]string, len(entries))
	for i, e := range entries {
		keys[i] = fmt.Sprintf("%q", e.Key)
		if e.Form != plainForm {
			keys[i] += "(auth)"
		}
	}
	return "[" + strings.Join(keys, ", ") + "]"
}
