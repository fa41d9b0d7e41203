package registryauth

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unique"
)

// The pull secret types and data keys the kubelet reads (k8s.io/api/core/v1 spells them the
// same; this package stays free of API machinery so that it is pure all the way down).
const (
	TypeDockerConfigJSON = "kubernetes.io/dockerconfigjson"
	TypeDockercfg        = "kubernetes.io/dockercfg"
	KeyDockerConfigJSON  = ".dockerconfigjson"
	KeyDockercfg         = ".dockercfg"
)

// Entry is one registry entry of a docker config. Entries of one secret that carry the same
// username and password share one Credential: an OpenShift dockercfg secret repeats one
// token under every key, and twice per key (password and auth).
type Entry struct {
	Key        Key
	Credential *Credential
}

// PullSecret is a parsed pull secret (or docker config file). A malformed one keeps its
// name, the fault and, where the JSON itself was readable, its keys, so messages can name
// it; it never supplies credentials.
//
// Entries are in matching order (see order.go): keys of an exact host first, by host, port
// and path, then globs, then keys the kubelet cannot match; so a secret is its own index,
// searched by bisection however many keys it holds.
type PullSecret struct {
	Name    string
	Entries []Entry
	Err     *SecretError
	// Hint, on a usable secret, names a fault the kubelet tolerates but that hides some of
	// the credentials its author meant it to carry (a .dockercfg with an "auths" wrapper).
	Hint *SecretError
	// hidden holds the keys under an ignored "auths" wrapper, so that a Hint is named only
	// for the images they were meant for (HintMeantFor); nil when there are none.
	hidden *PullSecret
	// ServiceAccount names the service account whose token the secret carries, as its
	// annotations say (OpenShift's <sa>-dockercfg-* secrets); empty when they name none. The
	// internal registry authorizes a pull for that account, not for the pod's.
	ServiceAccount string

	exact, globs int // how many entries are exact-host keys, and how many globs after them
}

// Usable reports whether the kubelet would read credentials from the secret.
func (s *PullSecret) Usable() bool { return s.Err == nil }

// ParseSecret parses a Kubernetes pull secret the way the kubelet reads it: type
// kubernetes.io/dockerconfigjson with .dockerconfigjson, or kubernetes.io/dockercfg with
// .dockercfg. Any other shape yields a PullSecret with Err set; it never panics.
func ParseSecret[T ~string](name string, typ T, data map[string][]byte) *PullSecret {
	switch string(typ) {
	case TypeDockerConfigJSON:
		raw := data[KeyDockerConfigJSON]
		if len(raw) == 0 {
			return malformed(name, ErrMissingData, KeyDockerConfigJSON)
		}
		return parseConfigJSON(name, raw)
	case TypeDockercfg:
		raw := data[KeyDockercfg]
		if len(raw) == 0 {
			return malformed(name, ErrMissingData, KeyDockercfg)
		}
		return parseDockercfg(name, raw)
	default:
		detail := fmt.Sprintf("type %q", typ)
		if _, ok := data[KeyDockerConfigJSON]; ok {
			detail += "; recreate it with --type=" + TypeDockerConfigJSON
		}
		return malformed(name, ErrUnknownType, detail)
	}
}

// ParseConfigFile parses a docker config.json (the node's /var/lib/kubelet/config.json, a
// ~/.docker/config.json): an object with an "auths" wrapper. name is used in errors.
func ParseConfigFile(name string, raw []byte) *PullSecret {
	return parseConfigJSON(name, raw)
}

// IsPullSecretType reports whether the kubelet reads credentials from secrets of this type.
func IsPullSecretType[T ~string](typ T) bool {
	return string(typ) == TypeDockerConfigJSON || string(typ) == TypeDockercfg
}

func malformed(name string, fault error, detail string) *PullSecret {
	return &PullSecret{Name: name, Err: &SecretError{Secret: name, Fault: fault, Detail: detail}}
}

// dockerConfigJSON mirrors the kubelet's DockerConfigJSON, so that encoding/json accepts and
// refuses exactly what the kubelet's decoding does (field names case-insensitive included).
type dockerConfigJSON struct {
	Auths       map[string]dockerConfigEntry `json:"auths"`
	HTTPHeaders map[string]string            `json:"HttpHeaders,omitempty"`
}

// dockerConfigEntry mirrors the kubelet's DockerConfigEntry and its UnmarshalJSON.
type dockerConfigEntry struct {
	username, password string
}

type dockerConfigEntryWithAuth struct {
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`
	Email    string `json:"email,omitempty"`
	Auth     string `json:"auth,omitempty"`
}

// errAuthField marks an "auth" decoding failure inside encoding/json's error chain.
var errAuthField = errors.New("bad auth field")

func (e *dockerConfigEntry) UnmarshalJSON(data []byte) error {
	var tmp dockerConfigEntryWithAuth
	if err := json.Unmarshal(data, &tmp); err != nil {
		return err
	}
	e.username, e.password = tmp.Username, tmp.Password
	if len(tmp.Auth) == 0 {
		return nil
	}
	user, pass, ok := decodeAuthField(tmp.Auth)
	if !ok {
		return errAuthField
	}
	e.username, e.password = user, pass
	return nil
}

// decodeAuthField decodes base64 "user:password", padded or not, as the kubelet does.
func decodeAuthField(field string) (user, pass string, ok bool) {
	var decoded []byte
	var err error
	if strings.HasSuffix(strings.TrimSpace(field), "=") {
		decoded, err = base64.StdEncoding.DecodeString(field)
	} else {
		decoded, err = base64.RawStdEncoding.DecodeString(field)
	}
	if err != nil {
		return "", "", false
	}
	user, pass, ok = strings.Cut(string(decoded), ":")
	return user, pass, ok
}

func parseConfigJSON(name string, raw []byte) *PullSecret {
	var cfg dockerConfigJSON
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return decodeFailure(name, raw, err, true)
	}
	if cfg.Auths == nil {
		return malformed(name, ErrNoAuths, noAuthsDetail(raw))
	}
	return withEntries(&PullSecret{Name: name}, entries(cfg.Auths))
}

func parseDockercfg(name string, raw []byte) *PullSecret {
	var cfg map[string]dockerConfigEntry
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return decodeFailure(name, raw, err, false)
	}
	s := &PullSecret{Name: name}
	if _, ok := cfg["auths"]; ok {
		// The kubelet reads "auths" as one more registry key (a host named "auths", which no
		// image matches) and keeps the real keys beside it; the credentials nested under it
		// are never used. Usable, but worth saying why those credentials do not count.
		s.Hint = &SecretError{Secret: name, Fault: ErrAuthsInDockercfg, Detail: "the kubelet ignores the credentials under it; use type " + TypeDockerConfigJSON + " with key " + KeyDockerConfigJSON}
		var wrapped dockerConfigJSON
		if json.Unmarshal(raw, &wrapped) == nil && len(wrapped.Auths) > 0 {
			s.hidden = withEntries(&PullSecret{Name: name}, entries(wrapped.Auths))
		}
	}
	return withEntries(s, entries(cfg))
}

// internUpTo is the number of keys up to which a secret's keys and usernames are interned
// across secrets; a larger secret is no common pattern, and interning is not free.
const internUpTo = 16

// entries returns the config's entries, each distinct credential held once.
func entries(cfg map[string]dockerConfigEntry) []Entry {
	out := make([]Entry, 0, len(cfg))
	creds := make(map[Credential]*Credential, 1)
	small := len(cfg) <= internUpTo
	for raw, e := range cfg {
		c := Credential{username: e.username, password: e.password}
		if small {
			// Thousands of secrets name the same registries and usernames (every
			// OpenShift project's builder, deployer and default accounts): hold each once.
			raw, c.username = unique.Make(raw).Value(), unique.Make(c.username).Value()
		}
		shared, ok := creds[c]
		if !ok {
			// The decoder's strings may share an allocation with other fields of the
			// entry (auth decodes to "user:password"); keep only the credential's bytes.
			shared = &Credential{username: c.username, password: strings.Clone(c.password)}
			if !small {
				shared.username = strings.Clone(c.username)
			}
			if c.Empty() {
				shared = &noCredential
			}
			creds[c] = shared
		}
		out = append(out, Entry{Key: ParseKey(raw), Credential: shared})
	}
	return out
}

// maxBadEntriesNamed bounds the keys an error names: the error is quoted in every message
// about the secret, and a secret may hold a hundred thousand bad entries.
const maxBadEntriesNamed = 5

// badEntriesDetail names the bad keys of a secret or file for its error, sorted, at most
// maxBadEntriesNamed of them.
func badEntriesDetail(bad []string) string {
	slices.Sort(bad)
	detail := "entry " + strings.Join(quoteAll(bad[:min(len(bad), maxBadEntriesNamed)]), ", ")
	if len(bad) > maxBadEntriesNamed {
		detail += fmt.Sprintf(" and %d more", len(bad)-maxBadEntriesNamed)
	}
	return detail
}

// decodeFailure classifies a decoding error. For a bad "auth" field it finds which registry
// key holds it and keeps the keys, so messages can say the secret was meant for a registry.
func decodeFailure(name string, raw []byte, err error, wrapped bool) *PullSecret {
	if !errors.Is(err, errAuthField) {
		return malformed(name, ErrBadJSON, jsonDetail(err))
	}
	auths := map[string]json.RawMessage{}
	if wrapped {
		var outer struct {
			Auths map[string]json.RawMessage `json:"auths"`
		}
		_ = json.Unmarshal(raw, &outer)
		auths = outer.Auths
	} else {
		_ = json.Unmarshal(raw, &auths)
	}
	s := malformed(name, ErrBadAuth, "")
	var bad []string
	all := make([]Entry, 0, len(auths))
	for key, entry := range auths {
		k := ParseKey(key)
		all = append(all, Entry{Key: k, Credential: &noCredential})
		var e dockerConfigEntry
		if json.Unmarshal(entry, &e) != nil {
			bad = append(bad, k.Display())
		}
	}
	withEntries(s, all)
	if len(bad) > 0 {
		s.Err.Detail = badEntriesDetail(bad)
	}
	return s
}

// jsonDetail reduces an encoding/json error to what is wrong and where, without quoting the
// input (which may hold a credential).
func jsonDetail(err error) string {
	var syntax *json.SyntaxError
	if errors.As(err, &syntax) {
		return fmt.Sprintf("syntax error at byte %d", syntax.Offset)
	}
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		where := typeErr.Field
		if where == "" {
			where = "top level"
		}
		return fmt.Sprintf("a JSON %s where %s was expected (%s)", typeErr.Value, expectedKind(typeErr), where)
	}
	return "unexpected end of input or invalid value"
}

func expectedKind(e *json.UnmarshalTypeError) string {
	switch e.Type.Kind().String() {
	case "map", "struct":
		return "an object"
	case "string":
		return "a string"
	default:
		return "a " + e.Type.Kind().String()
	}
}

// noAuthsDetail explains a .dockerconfigjson without "auths": usually a .dockercfg body
// (registries at the top level) put under the newer key.
func noAuthsDetail(raw []byte) string {
	var top map[string]json.RawMessage
	if json.Unmarshal(raw, &top) == nil {
		for k := range top {
			if strings.Contains(k, ".") || strings.Contains(k, ":") {
				return `registries at the top level: wrap them in {"auths": {...}} or use type ` + TypeDockercfg
			}
		}
	}
	return `expected {"auths": {"<registry>": {...}}}`
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = fmt.Sprintf("%q", s)
	}
	return out
}
