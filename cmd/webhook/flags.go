package main

import (
	"flag"
	"fmt"
	"io"
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

// printFlags lists a flag set's flags GNU-style (--name), as the docs spell them; the flag
// package accepts both -name and --name.
func printFlags(w io.Writer, fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		dashes := "--"
		if len(f.Name) == 1 {
			dashes = "-"
		}
		name, usage := flag.UnquoteUsage(f)
		line := "  " + dashes + f.Name
		if name != "" {
			line += " " + name
		}
		fmt.Fprintf(w, "%s\n    \t%s", line, usage)
		if f.DefValue != "" && f.DefValue != "[]" && f.DefValue != "false" {
			fmt.Fprintf(w, " (default %q)", f.DefValue)
		}
		fmt.Fprintln(w)
	})
}
