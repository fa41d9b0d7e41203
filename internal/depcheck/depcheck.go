// Package depcheck lets a test assert what a package must not import, directly or
// transitively, so that pure layers stay pure as the code grows.
package depcheck

import (
	"os/exec"
	"strings"
	"testing"
)

// Rule forbids a package path, or every path under it when Prefix is set.
type Rule struct {
	Path   string
	Prefix bool
}

func (r Rule) matches(pkg string) bool {
	return pkg == r.Path || (r.Prefix && strings.HasPrefix(pkg, r.Path+"/"))
}

// Forbid returns a rule for exactly path.
func Forbid(path string) Rule { return Rule{Path: path} }

// ForbidTree returns a rule for path and everything under it.
func ForbidTree(path string) Rule { return Rule{Path: path, Prefix: true} }

// AssertDeps fails the test if pkg's transitive dependencies include anything in transitive,
// or its own imports include anything in direct.
func AssertDeps(t *testing.T, pkg string, direct, transitive []Rule) {
	t.Helper()
	check := func(what string, pkgs []string, rules []Rule) {
		for _, p := range pkgs {
			for _, r := range rules {
				if r.matches(p) {
					t.Errorf("%s must not import %s (%s), found %s", pkg, r.Path, what, p)
				}
			}
		}
	}
	check("transitively", goList(t, "-deps", pkg), transitive)
	check("directly", goList(t, "-f", `{{join .Imports "\n"}}`, pkg), direct)
}

func goList(t *testing.T, args ...string) []string {
	t.Helper()
	out, err := exec.Command("go", append([]string{"list"}, args...)...).Output()
	if err != nil {
		t.Fatalf("go list %v: %v", args, err)
	}
	return strings.Fields(string(out))
}
