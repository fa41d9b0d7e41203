package main

import (
	"runtime/debug"
)

// version is set at build time with -ldflags "-X main.version=..." (make build); without
// it, the version the go command stamped into the binary (see buildVersion).
var version string

func init() { version = buildVersion(version, debug.ReadBuildInfo) }

// buildVersion returns the -ldflags version if set; else the module version (go install
// module@v1.2.3; go build in a checkout stamps a pseudo-version from the VCS); else the VCS
// revision; else "dev".
func buildVersion(ldflags string, read func() (*debug.BuildInfo, bool)) string {
	if ldflags != "" {
		return ldflags
	}
	info, ok := read()
	if !ok {
		return "dev"
	}
	if v := info.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var revision, modified string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			revision = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	if revision == "" {
		return "dev"
	}
	if len(revision) > 12 {
		revision = revision[:12]
	}
	if modified == "true" {
		revision += "-dirty"
	}
	return "devel-" + revision
}
