package registryauth

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
)

// NearMissBudget bounds the keys examined to explain why one image matched nothing in one
// keyring (or one malformed secret). Only keys that could plausibly be meant for the image
// are examined at all (its host in any case and port, Docker Hub's hosts for a Docker Hub
// image, globs, keys that are not URLs), so the budget only bites on a secret built to
// make explanations expensive; then the explanation is cut short, never the decision.
const NearMissBudget = 256

// ctxCheckEvery is how many keys are examined between looks at the review's context.
const ctxCheckEvery = 64

// KeyMiss explains one key name that looks meant for an image but does not match it.
type KeyMiss struct {
	// Why is NearMiss of the key (as the first secret holding it wrote it).
	Why string
	// Secrets names the secrets holding the key, in keyring order.
	Secrets []string
}

// NearMisses explains the keys of the keyring that look meant for the image but do not match
// it, in key name order, examining at most NearMissBudget keys, and stopping when ctx ends.
func (k *Keyring) NearMisses(ctx context.Context, img Image) []KeyMiss {
	if k.Empty() {
		return nil
	}
	var buf [mergeFrom]span
	c := candidates{ctx: ctx, budget: NearMissBudget, named: true}
	for class := range 3 {
		for _, sp := range k.spans(class, buf[:0]) {
			c.plausible(&sp, class, img)
		}
	}
	slices.SortFunc(c.found, func(a, b entryRef) int {
		if c := strings.Compare(k.key(a).Name(), k.key(b).Name()); c != 0 {
			return c
		}
		return compareRefs(a, b)
	})
	var out []KeyMiss
	for i := 0; i < len(c.found); {
		name := k.key(c.found[i]).Name()
		j := i + 1
		for j < len(c.found) && k.key(c.found[j]).Name() == name {
			j++
		}
		// One explanation per name, worded from the first secret's key, as the kubelet
		// groups credentials by name.
		if why := NearMiss(*k.key(c.found[i]), img); why != "" {
			miss := KeyMiss{Why: why}
			for _, r := range c.found[i:j] {
				if name := k.secrets[r.secret].Name; !slices.Contains(miss.Secrets, name) {
					miss.Secrets = append(miss.Secrets, name) // at most NearMissBudget
				}
			}
			out = append(out, miss)
		}
		i = j
	}
	return out
}

// MeantFor reports whether any key of the secret matches the image or nearly does (a
// malformed secret that may have been meant for it), examining at most NearMissBudget
// plausible keys. A secret with no readable key may have been meant for anything.
func (s *PullSecret) MeantFor(ctx context.Context, img Image) bool {
	if len(s.Entries) == 0 {
		return true
	}
	one := []*PullSecret{s}
	exact, globs := secretSpan(one, 0, classExact), secretSpan(one, 0, classGlob)
	if len(exact.exactMatches(img, nil)) > 0 || len(globs.globMatches(img, nil)) > 0 {
		return true
	}
	c := candidates{ctx: ctx, budget: NearMissBudget}
	for class := range 3 {
		sp := secretSpan(one, 0, class)
		c.plausible(&sp, class, img)
	}
	for _, r := range c.found {
		if NearMiss(s.Entries[r.entry].Key, img) != "" {
			return true
		}
	}
	return false
}

// HintMeantFor reports whether the credentials a Hint says the kubelet ignores were meant
// for img (MeantFor, of the keys under the wrapper). A hint whose hidden keys could not be
// read may have been meant for any image.
func (s *PullSecret) HintMeantFor(ctx context.Context, img Image) bool {
	switch {
	case s.Hint == nil:
		return false
	case s.hidden == nil:
		return true
	}
	return s.hidden.MeantFor(ctx, img)
}

// candidates gathers the keys that could plausibly be meant for an image, within a budget.
type candidates struct {
	ctx    context.Context
	budget int
	named  bool // skip keys without a kubelet name (a keyring never holds them)
	seen   int
	found  []entryRef
}

func (c *candidates) plausible(sp *span, class int, img Image) {
	switch class {
	case classExact:
		lo, hi := sp.foldRange(img.hostname)
		c.take(sp, lo, hi)
		if img.OnDockerHub() {
			for _, host := range []string{"registry-1.docker.io", dockerHubKey} {
				if !strings.EqualFold(host, img.hostname) {
					lo, hi := sp.foldRange(host)
					c.take(sp, lo, hi)
				}
			}
		}
	default:
		c.take(sp, 0, sp.n)
	}
}

func (c *candidates) take(sp *span, lo, hi int) {
	for i := lo; i < hi && c.budget > 0; i++ {
		if c.seen++; c.seen%ctxCheckEvery == 0 && c.ctx.Err() != nil {
			c.budget = 0
			return
		}
		if c.named && sp.key(i).Name() == "" {
			continue
		}
		c.found = append(c.found, sp.ref(i))
		c.budget--
	}
}

// foldRange is the run of exact-host keys whose hostname equals host in any case.
func (sp *span) foldRange(host string) (lo, hi int) {
	return sp.rangeOf(func(k *Key) int { return compareFold(k.hostname(), host) })
}

// NearMiss explains why a key that looks meant for the image does not match it: a different
// port, a '*' that would have to span two labels, a difference of case, a Docker Hub key the
// kubelet does not recognise, or a path that is not a prefix of the image's. It returns ""
// when the key matches or is unrelated to the image.
func NearMiss(k Key, img Image) string {
	if k.matches(img) {
		return ""
	}
	if !k.matchable {
		if k.Raw != "" && strings.Contains(k.Raw, img.hostname) {
			return fmt.Sprintf("key %q is not a valid URL, so the kubelet ignores it", k.Display())
		}
		return ""
	}
	if why := dockerHubMiss(&k, img); why != "" {
		return why
	}
	hostname, port, path, labels := k.hostname(), k.port(), k.path(), k.labelCount()
	pathOK := strings.HasPrefix(img.path, path)
	hostOK := labels == img.labels && (hostname == img.hostname || (k.glob && globLabelsMatch(hostname, img.hostname)))
	switch {
	case hostOK && pathOK && port != img.port:
		return fmt.Sprintf("key %q is for %s but the image uses %s; the kubelet requires the same port", k.Display(), portName(port), portName(img.port))
	case k.glob && port == img.port && labels != img.labels && pathOK && wholeGlobMatch(hostname, img.hostname):
		return fmt.Sprintf("key %q: '*' matches inside one DNS label only, and %s has %d labels where the key has %d", k.Display(), img.hostname, img.labels, labels)
	case !hostOK && port == img.port && strings.EqualFold(hostname, img.hostname):
		return fmt.Sprintf("key %q differs from registry %s only in case; the kubelet compares case-sensitively", k.Display(), img.Registry)
	case hostOK && port == img.port && !pathOK:
		if strings.TrimSuffix(path, "/") == img.path {
			return fmt.Sprintf("key %q ends with '/', so it does not cover %s itself", k.Display(), img.Name)
		}
		if strings.HasPrefix(strings.ToLower(img.path), strings.ToLower(path)) {
			return fmt.Sprintf("key %q differs from %s only in case; the kubelet compares case-sensitively", k.Display(), img.Name)
		}
		return fmt.Sprintf("key %q is scoped to %s, which is not a prefix of %s", k.Display(), k.Name(), img.Name)
	}
	return ""
}

func dockerHubMiss(k *Key, img Image) string {
	if !img.OnDockerHub() {
		return ""
	}
	switch hostname := k.hostname(); {
	case hostname == "registry-1.docker.io":
		return fmt.Sprintf("key %q is not one the kubelet uses for Docker Hub; use https://index.docker.io/v1/ or docker.io", k.Display())
	case k.Name() == "index.docker.io/v1":
		return fmt.Sprintf("key %q needs its trailing slash (https://index.docker.io/v1/); without it the key is the path /v1 and matches nothing", k.Display())
	case hostname == dockerHubKey && k.port() == "" && k.path() != "":
		return fmt.Sprintf("key %q: the kubelet matches Docker Hub images as docker.io/..., so a path under index.docker.io never matches; use docker.io%s", k.Display(), k.path())
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
