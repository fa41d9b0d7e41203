package main

import (
	"strings"

	"github.com/pullguard/pullguard/pkg/registryauth"
)

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

func (l *stringList) Set(v string) error {
	*l = append(*l, v)
	return nil
}

func (l *stringList) Type() string { return "strings" }

// patternsFlag is a comma list of registry globs; repeating the flag adds to the list.
type patternsFlag struct{ patterns registryauth.Patterns }

func (p *patternsFlag) String() string { return p.patterns.String() }

func (p *patternsFlag) Set(v string) error {
	ps, err := registryauth.ParsePatterns(v)
	if err != nil {
		return err
	}
	p.patterns = append(p.patterns, ps...)
	return nil
}

func (p *patternsFlag) Type() string { return "globs" }
