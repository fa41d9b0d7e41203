package registryauth

import (
	"fmt"
	"path/filepath"
	"strings"
)

// NearMiss explains why a key that looks meant for the image does not match it: a different
// port, a '*' that would have to span two labels, a difference of case, a Docker Hub key the
// kubelet does not recognise, or a path that is not a prefix of the image's. It returns ""
// when the key matches or is unrelated to the image.
func NearMiss(k Key, img Image) string {
	if k.Matches(img) {
		return ""
	}
	if !k.matchable {
		if k.Raw != "" && strings.Contains(k.Raw, img.hostname) {
			return fmt.Sprintf("key %q is not a valid URL, so the kubelet ignores it", k.Raw)
		}
		return ""
	}
	if why := dockerHubMiss(k, img); why != "" {
		return why
	}
	pathOK := strings.HasPrefix(img.path, k.path)
	hostOK := k.labels == img.labels && (k.hostname == img.hostname || (k.glob && globLabelsMatch(k.hostname, img.hostname)))
	switch {
	case hostOK && pathOK && k.port != img.port:
		return fmt.Sprintf("key %q is for %s but the image uses %s; the kubelet requires the same port", k.Raw, portName(k.port), portName(img.port))
	case k.glob && k.port == img.port && k.labels != img.labels && pathOK && wholeGlobMatch(k.hostname, img.hostname):
		return fmt.Sprintf("key %q: '*' matches inside one DNS label only, and %s has %d labels where the key has %d", k.Raw, img.hostname, img.labels, k.labels)
	case !hostOK && k.port == img.port && strings.EqualFold(k.hostname, img.hostname):
		return fmt.Sprintf("key %q differs from registry %s only in case; the kubelet compares case-sensitively", k.Raw, img.Registry)
	case hostOK && k.port == img.port && !pathOK:
		if strings.TrimSuffix(k.path, "/") == img.path {
			return fmt.Sprintf("key %q ends with '/', so it does not cover %s itself", k.Raw, img.Name)
		}
		if strings.HasPrefix(strings.ToLower(img.path), strings.ToLower(k.path)) {
			return fmt.Sprintf("key %q differs from %s only in case; the kubelet compares case-sensitively", k.Raw, img.Name)
		}
		return fmt.Sprintf("key %q is scoped to %s, which is not a prefix of %s", k.Raw, k.Name, img.Name)
	}
	return ""
}

func dockerHubMiss(k Key, img Image) string {
	if !img.OnDockerHub() {
		return ""
	}
	switch {
	case k.hostname == "registry-1.docker.io":
		return fmt.Sprintf("key %q is not one the kubelet uses for Docker Hub; use https://index.docker.io/v1/ or docker.io", k.Raw)
	case k.Name == "index.docker.io/v1":
		return fmt.Sprintf("key %q needs its trailing slash (https://index.docker.io/v1/); without it the key is the path /v1 and matches nothing", k.Raw)
	case k.hostname == dockerHubKey && k.port == "" && k.path != "":
		return fmt.Sprintf("key %q: the kubelet matches Docker Hub images as docker.io/..., so a path under index.docker.io never matches; use docker.io%s", k.Raw, k.path)
	}
	return ""
}

// wholeGlobMatch matches a hostname against a glob where '*' may cross dots, to detect a
// pattern the user meant to span labels.
func wholeGlobMatch(pattern, host string) bool {
	ok, err := filepath.Match(pattern, host)
	return err == nil && ok
}

func portName(port string) string {
	if port == "" {
		return "no port"
	}
	return "port " + port
}
