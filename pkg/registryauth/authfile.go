package registryauth

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
)

// ParseAuthFile parses a containers-auth.json(5) file, such as CRI-O's global_auth_file
// (on OpenShift the node's /var/lib/kubelet/config.json), the way containers/image reads it
// for AuthFileLookup, which differs from the kubelet's reading of the same file: only an
// entry's "auth" field counts (standard, padded base64 of "username:password"); an entry
// without it, or whose decoded value has no ':', carries no credential (containers/image
// then reads the next file). "identitytoken" is not kept. A missing "auths" is an empty
// file. An "auth" that is not base64 fails only the lookups that reach its key
// (containers/image decodes an entry when a lookup picks it): its key is kept, marked
// undecodable (AuthFileLookup returns ErrBadAuth for it), the other keys are read as
// usual, and Hint names the bad keys. Only a file that is not JSON is malformed.
func ParseAuthFile(name string, raw []byte) *PullSecret {
	var file struct {
		Auths map[string]struct {
			Auth string `json:"auth"`
		} `json:"auths"`
	}
	if err := json.Unmarshal(raw, &file); err != nil {
		return malformed(name, ErrBadJSON, jsonDetail(err))
	}
	entries := make([]Entry, 0, len(file.Auths))
	var bad []string
	for key, e := range file.Auths {
		k := ParseKey(key)
		cred := &noCredential
		if e.Auth != "" {
			decoded, err := base64.StdEncoding.DecodeString(e.Auth)
			switch {
			case err != nil:
				bad = append(bad, k.Display())
				cred = &undecodableAuth
			default:
				if user, pass, ok := strings.Cut(string(decoded), ":"); ok {
					cred = &Credential{username: user, password: strings.Trim(pass, "\x00")}
				}
			}
		}
		entries = append(entries, Entry{Key: k, Credential: cred})
	}
	s := withEntries(&PullSecret{Name: name}, entries)
	if len(bad) > 0 {
		s.Hint = &SecretError{Secret: name, Fault: ErrBadAuth, Detail: badEntriesDetail(bad)}
	}
	return s
}

// ParseSecretAuthFile reads a pull secret the nodes hold as their auth file (OpenShift's
// global pull secret, written to every node as config.json) the way containers/image reads
// that file: ParseAuthFile of its .dockerconfigjson, or of a .dockercfg's keys as the file's
// "auths". A secret of another type, or without its key, is malformed.
func ParseSecretAuthFile[T ~string](name string, typ T, data map[string][]byte) *PullSecret {
	switch string(typ) {
	case TypeDockerConfigJSON:
		if raw, ok := data[KeyDockerConfigJSON]; ok {
			return ParseAuthFile(name, raw)
		}
	case TypeDockercfg:
		if raw, ok := data[KeyDockercfg]; ok {
			wrapped := make([]byte, 0, len(raw)+len(`{"auths":}`))
			wrapped = append(append(append(wrapped, `{"auths":`...), raw...), '}')
			return ParseAuthFile(name, wrapped)
		}
	}
	// Another type or a missing key: the kubelet's reading says it best.
	return ParseSecret(name, typ, data)
}

// undecodableAuth is the credential of an auth-file entry whose "auth" is not base64: a
// lookup that picks it fails.
var undecodableAuth Credential

// AuthFileLookup returns the credential CRI-O reads from the node's auth files for an
// image when the kubelet sends none for that endpoint: containers/image's
// pkg/docker/config (GetCredentialsForRef), not the kubelet's matching. The keyring's
// secrets are the auth files, in the order containers/image reads them (CRI-O with a
// global_auth_file reads only that one), parsed with ParseAuthFile.
//
// Files are the outer loop. In each file, the keys tried are the image name and its
// parents by whole path components, most specific first ("m:5000/team/app",
// "m:5000/team", "m:5000"), each only as an exact key: no globs, no partial component, and
// a host without its port never stands for host:port. Failing those, a key written as a
// URL ("https://m:5000/anything") counts for its bare host, and Docker Hub's names
// (docker.io, index.docker.io, registry-1.docker.io) stand for one another. The first key
// found is the answer, even when its credential is rejected: there is no retry with the
// next. Only an empty entry (no credential in it) passes on to the next file.
//
// When the entry found has an "auth" that is not base64, err is a *SecretError with
// ErrBadAuth (found is true, the match names the file and key): containers/image fails the
// lookup, so CRI-O fails that endpoint without contacting it and goes on to the next.
//
// Where containers/image picks among several URL-written keys of one host in a file it
// takes whichever its map yields first; this takes the first in the file's matching order.
func (k *Keyring) AuthFileLookup(img Image) (m Match, found bool, err error) {
	if k == nil {
		return Match{}, false, nil
	}
	registry := normalizeAuthHost(img.Registry)
	for _, s := range k.secrets {
		best, bestLen, fallback := -1, -1, -1
		for j := range s.Entries {
			raw := s.Entries[j].Key.Raw
			if isParentKey(img.Name, raw) {
				if len(raw) > bestLen {
					best, bestLen = j, len(raw)
				}
				continue
			}
			if fallback < 0 && authKeyHost(raw) == registry {
				fallback = j
			}
		}
		key := ""
		switch {
		case best >= 0:
			key = s.Entries[best].Key.Raw
		case fallback >= 0:
			best, key = fallback, img.Registry
		default:
			continue
		}
		e := &s.Entries[best]
		if e.Credential == &undecodableAuth {
			m := Match{Secret: s.Name, Key: key, RawKey: e.Key.Raw}
			return m, true, &SecretError{Secret: s.Name, Fault: ErrBadAuth, Detail: fmt.Sprintf("entry %q", e.Key.Display())}
		}
		if e.Credential == nil || e.Credential.Empty() {
			continue // containers/image moves on to the next file after an empty entry
		}
		return Match{Secret: s.Name, Key: key, RawKey: e.Key.Raw, Credential: *e.Credential}, true, nil
	}
	return Match{}, false, nil
}

// isParentKey reports whether key is name or one of its parents by whole path components
// ("host/a/b", "host/a", "host").
func isParentKey(name, key string) bool {
	return key != "" && strings.HasPrefix(name, key) && (len(name) == len(key) || name[len(key)] == '/')
}

// authKeyHost is the host a key stands for when containers/image falls back from exact
// keys: a URL's host (its path dropped), a plain key as it is; Docker Hub's names as one.
func authKeyHost(key string) string {
	host, ok := strings.CutPrefix(key, "http://")
	if !ok {
		host, ok = strings.CutPrefix(key, "https://")
	}
	if ok {
		host, _, _ = strings.Cut(host, "/")
	}
	return normalizeAuthHost(host)
}

func normalizeAuthHost(host string) string {
	switch host {
	case "docker.io", "registry-1.docker.io":
		return dockerHubKey
	}
	return host
}
