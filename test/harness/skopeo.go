package harness

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
)

// SkopeoBinary is Debian's skopeo: containers/image, the library CRI-O pulls with. Tests
// use it as the ground truth for CRI-O's mirror and auth-file rules, code no one here wrote.
const SkopeoBinary = "/usr/bin/skopeo"

// AuthFile is a docker config.json: key (host[:port][/path], or any string the file may
// hold) to user and password.
type AuthFile map[string][2]string

// JSON returns the file's body.
func (a AuthFile) JSON() []byte {
	auths := map[string]any{}
	for key, cred := range a {
		auths[key] = map[string]string{"auth": base64.StdEncoding.EncodeToString([]byte(cred[0] + ":" + cred[1]))}
	}
	b, err := json.Marshal(map[string]any{"auths": auths})
	if err != nil {
		panic(fmt.Sprintf("harness: %v", err))
	}
	return b
}

// MirrorSet is one source entry of an OpenShift mirror set object.
type MirrorSet struct {
	// Kind is ImageDigestMirrorSet, ImageTagMirrorSet or ImageContentSourcePolicy.
	Kind    string
	Name    string
	Source  string
	Mirrors []string
	// NeverContactSource is mirrorSourcePolicy: NeverContactSource (not in an
	// ImageContentSourcePolicy, which has no policy).
	NeverContactSource bool
}

// Mirror set kinds.
const (
	ImageDigestMirrorSet     = "ImageDigestMirrorSet"
	ImageTagMirrorSet        = "ImageTagMirrorSet"
	ImageContentSourcePolicy = "ImageContentSourcePolicy"
)

// YAML returns the object as a YAML document (with its trailing separator).
func (m MirrorSet) YAML() string {
	var b strings.Builder
	apiVersion, list := "config.openshift.io/v1", "imageDigestMirrors"
	switch m.Kind {
	case ImageTagMirrorSet:
		list = "imageTagMirrors"
	case ImageContentSourcePolicy:
		apiVersion, list = "operator.openshift.io/v1alpha1", "repositoryDigestMirrors"
	}
	fmt.Fprintf(&b, "apiVersion: %s\nkind: %s\nmetadata: {name: %s}\nspec:\n  %s:\n  - source: %q\n    mirrors:\n", apiVersion, m.Kind, m.Name, list, m.Source)
	for _, mirror := range m.Mirrors {
		fmt.Fprintf(&b, "    - %q\n", mirror)
	}
	if m.NeverContactSource {
		b.WriteString("    mirrorSourcePolicy: NeverContactSource\n")
	}
	b.WriteString("---\n")
	return b.String()
}

// RegistriesConf returns the registries.conf OpenShift's machine-config operator writes
// for sets (openshift/runtime-utils pkg/registries EditRegistriesConfig): one
// [[registry]] per source with location = source; the digest sets' mirrors
// (ImageDigestMirrorSet, ImageContentSourcePolicy) first with pull-from-mirror =
// "digest-only", then the tag sets' with "tag-only"; blocked = true when a set says
// NeverContactSource. Mirrors of several sets for one source are concatenated in order
// (the operator orders them topologically; the tests give each source one set per kind).
func RegistriesConf(sets []MirrorSet) []byte {
	type mirror struct{ location, pullFrom string }
	type registry struct {
		location string
		blocked  bool
		mirrors  []mirror
	}
	var registries []*registry
	entry := func(source string) *registry {
		for _, r := range registries {
			if r.location == source {
				return r
			}
		}
		r := &registry{location: source}
		registries = append(registries, r)
		return r
	}
	for _, digest := range []bool{true, false} {
		for _, s := range sets {
			if (s.Kind != ImageTagMirrorSet) != digest {
				continue
			}
			r := entry(s.Source)
			r.blocked = r.blocked || s.NeverContactSource
			pullFrom := "digest-only"
			if !digest {
				pullFrom = "tag-only"
			}
			for _, m := range s.Mirrors {
				r.mirrors = append(r.mirrors, mirror{m, pullFrom})
			}
		}
	}
	var b strings.Builder
	b.WriteString("unqualified-search-registries = []\nshort-name-mode = \"\"\n")
	for _, r := range registries {
		fmt.Fprintf(&b, "\n[[registry]]\n  prefix = \"\"\n  location = %q\n", r.location)
		if r.blocked {
			b.WriteString("  blocked = true\n")
		}
		for _, m := range r.mirrors {
			fmt.Fprintf(&b, "\n  [[registry.mirror]]\n    location = %q\n    pull-from-mirror = %q\n", m.location, m.pullFrom)
		}
	}
	return []byte(b.String())
}

// SkopeoPull is one manifest fetch as CRI-O would do it for the kubelet.
type SkopeoPull struct {
	// Ref is the image reference (no transport).
	Ref string
	// RegistriesConf is the node's registries.conf.
	RegistriesConf string
	// AuthFile is the node's auth file (CRI-O's global_auth_file, the kubelet's config.json
	// on OpenShift).
	AuthFile string
	// Creds is the kubelet's credential "user:password", "" for none: containers/image's
	// DockerAuthConfig, which CRI-O sets from the CRI pull request's auth.
	Creds string
	// CertDir holds the CA that every registry's certificate chains to.
	CertDir string
}

// SkopeoResult is what skopeo did.
type SkopeoResult struct {
	// OK: the manifest was fetched, so the pull would work.
	OK bool
	// Tried are the references skopeo tried, in order; Failed maps those that failed to
	// their error.
	Tried  []string
	Failed map[string]string
	// Output is skopeo's stderr (its debug log), credentials redacted.
	Output string
}

// Served is the reference that served the manifest, "" if none did.
func (r SkopeoResult) Served() string {
	if !r.OK {
		return ""
	}
	for _, ref := range r.Tried {
		if _, failed := r.Failed[ref]; !failed {
			return ref
		}
	}
	return ""
}

var (
	// logrus quotes the message and escapes its quotes: msg="Trying to access \"REF\"".
	skopeoTrying = regexp.MustCompile(`Trying to access \\"([^"\\]+)\\"`)
	skopeoFailed = regexp.MustCompile(`Accessing \\"([^"\\]+)\\" failed: (.*)"$`)
)

// Skopeo runs `skopeo inspect --raw` for p in a clean environment: HOME an empty temporary
// directory and nothing else of the caller's (no REGISTRY_AUTH_FILE, XDG_RUNTIME_DIR,
// DOCKER_CONFIG or per-user registries.conf can add credentials or mirrors).
func Skopeo(ctx context.Context, p SkopeoPull) (SkopeoResult, error) {
	if _, err := os.Stat(SkopeoBinary); err != nil {
		return SkopeoResult{}, fmt.Errorf("%s not found: install Debian's skopeo package (hack/install-test-deps.sh)", SkopeoBinary)
	}
	home, err := os.MkdirTemp("", "pullguard-skopeo-home-")
	if err != nil {
		return SkopeoResult{}, err
	}
	defer os.RemoveAll(home)
	args := []string{"--debug", "--command-timeout", "30s", "--registries-conf", p.RegistriesConf,
		"inspect", "--raw", "--retry-times", "0", "--authfile", p.AuthFile, "--cert-dir", p.CertDir}
	if p.Creds != "" {
		args = append(args, "--creds", p.Creds)
	}
	args = append(args, "docker://"+p.Ref)
	cmd := exec.CommandContext(ctx, SkopeoBinary, args...)
	cmd.Env = []string{"HOME=" + home, "PATH=/usr/bin:/bin", "LC_ALL=C"}
	cmd.Dir = home
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	res := SkopeoResult{Failed: map[string]string{}, Output: redactCreds(stderr.String(), p.Creds)}
	var exit *exec.ExitError
	switch {
	case runErr == nil:
		res.OK = true
	case errors.As(runErr, &exit) && (exit.ExitCode() == 1 || exit.ExitCode() == 2):
		// 1: the fetch failed; newer skopeo exits 2 when the image does not exist.
	default:
		return res, fmt.Errorf("skopeo: %v\n%s", runErr, res.Output)
	}
	for _, line := range strings.Split(res.Output, "\n") {
		if m := skopeoTrying.FindStringSubmatch(line); m != nil {
			res.Tried = append(res.Tried, m[1])
		}
		if m := skopeoFailed.FindStringSubmatch(line); m != nil {
			res.Failed[m[1]] = strings.ReplaceAll(m[2], `\"`, `"`)
		}
	}
	if res.OK && len(res.Tried) == 0 {
		return res, fmt.Errorf("skopeo fetched %s but its debug log names no endpoint (has its log format changed?)\n%s", p.Ref, res.Output)
	}
	return res, nil
}

func redactCreds(text, creds string) string {
	if creds == "" {
		return text
	}
	_, pass, _ := strings.Cut(creds, ":")
	text = strings.ReplaceAll(text, base64.StdEncoding.EncodeToString([]byte(creds)), "[redacted]")
	if pass != "" {
		text = strings.ReplaceAll(text, pass, "[redacted]")
	}
	return text
}
