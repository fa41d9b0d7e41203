package mirrors

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"
)

// hostsFile is what of containerd's hosts.toml decides where a pull goes.
type hostsFile struct {
	Server       string                `toml:"server"`
	Capabilities []string              `toml:"capabilities"`
	OverridePath bool                  `toml:"override_path"`
	Hosts        map[string]hostsEntry `toml:"host"`
}

type hostsEntry struct {
	Capabilities []string `toml:"capabilities"`
	OverridePath bool     `toml:"override_path"`
}

// portDirectory is containerd's spelling of host:port as a directory name, host_port_.
var portDirectory = regexp.MustCompile(`^(.+)_([0-9]+)_$`)

// OriginHostsToml is the Origin of mirrors read from a host's hosts.toml.
func OriginHostsToml(host string) string { return "hosts.toml of " + host }

// ParseContainerdHosts reads containerd's registry configuration directory (the CRI
// plugin's config_path): one directory per registry host ("docker.io",
// "registry.example.com:5000" or "registry.example.com_5000_", and "_default" for every
// other host), each holding a hosts.toml. A source per directory: its [host."..."] tables in
// file order as mirrors, then `server` (or the registry itself) as the source.
//
// containerd reads a directory of a host before its _default, and host_port_ before
// host:port; a directory without hosts.toml gives the host no mirrors (and so hides
// _default). containerd ignores a hosts.toml it cannot read (and pulls from the registry
// itself): such a file is an error here, with every other source still returned.
func ParseContainerdHosts(fsys fs.FS) ([]Source, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, err
	}
	type dir struct{ name, host string }
	var dirs []dir
	for _, e := range entries {
		info, err := fs.Stat(fsys, e.Name()) // follows a symbolic link, as containerd's os.Stat does
		if err != nil || !info.IsDir() {
			continue
		}
		host := e.Name()
		if m := portDirectory.FindStringSubmatch(host); m != nil {
			host = m[1] + ":" + m[2]
		}
		dirs = append(dirs, dir{e.Name(), host})
	}
	// host_port_ wins over host:port: sort it first, keep the first of a host.
	slices.SortStableFunc(dirs, func(a, b dir) int {
		if c := strings.Compare(a.host, b.host); c != 0 {
			return c
		}
		return boolOrder(a.name == a.host, b.name == b.host)
	})
	var sources []Source
	var errs []error
	for i, d := range dirs {
		if i > 0 && dirs[i-1].host == d.host {
			continue
		}
		s, err := parseHostDir(fsys, d.name, d.host)
		if err != nil {
			errs = append(errs, err)
		}
		sources = append(sources, s)
	}
	return sources, errors.Join(errs...)
}

func boolOrder(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

// parseHostDir returns the source of one host directory. On an error the source is what
// containerd falls back to: the registry itself, no mirrors.
func parseHostDir(fsys fs.FS, name, host string) (Source, error) {
	fallback := Source{Prefix: host}
	data, err := fs.ReadFile(fsys, path.Join(name, "hosts.toml"))
	if errors.Is(err, fs.ErrNotExist) || err == nil && len(data) == 0 {
		return fallback, nil
	}
	if err != nil {
		return fallback, err
	}
	s, err := ParseHostsToml(host, data)
	if err != nil {
		return fallback, fmt.Errorf("%s/hosts.toml (containerd ignores it and pulls from %s itself): %w", name, host, err)
	}
	return s, nil
}

// ParseHostsToml reads the hosts.toml of one registry host (DefaultHost for _default).
func ParseHostsToml(host string, data []byte) (Source, error) {
	var file hostsFile
	md, err := toml.Decode(string(data), &file)
	if err != nil {
		return Source{}, tomlError(err)
	}
	origin := OriginHostsToml(host)
	s := Source{Prefix: host}
	// Hosts in the order their tables appear, as containerd lists them (getSortedHosts):
	// [host."..."] table headers only, each once per run.
	var order []string
	for _, key := range md.Keys() {
		if len(key) == 2 && key[0] == "host" && md.Type(key...) == "Hash" && (len(order) == 0 || order[len(order)-1] != key[1]) {
			order = append(order, key[1])
		}
	}
	for _, name := range order {
		e := file.Hosts[name]
		location, err := hostLocation(name, e.OverridePath)
		if err != nil {
			return Source{}, err
		}
		caps, err := parseCapabilities(e.Capabilities)
		if err != nil {
			return Source{}, fmt.Errorf("host %q: %w", name, err)
		}
		pf, pulls := caps.pullFrom()
		if !pulls {
			continue // never asked for a pull: a push-only host
		}
		s.Mirrors = append(s.Mirrors, Mirror{Location: location, PullFrom: pf, Origin: origin})
	}
	// containerd parses the top-level capabilities (an unknown one fails the file) but
	// applies them only to an explicit server: without `server` the registry itself comes
	// last with every capability (ConfigureHosts fills in the implicit host).
	caps, err := parseCapabilities(file.Capabilities)
	if err != nil {
		return Source{}, err
	}
	if file.Server == "" {
		caps = capabilities{pull: true, resolve: true}
	}
	if file.Server != "" {
		location, err := hostLocation(file.Server, file.OverridePath)
		if err != nil {
			return Source{}, err
		}
		// docker.io's own server is registry-1.docker.io (containerd's default for it).
		if location != host && !(host == "docker.io" && location == "registry-1.docker.io") {
			s.Location = location
		}
	}
	pf, pulls := caps.pullFrom()
	s.SourcePullFrom = pf
	if !pulls {
		s.Blocked, s.BlockedBy = true, origin+" (its capabilities lack pull)"
	}
	return s, nil
}

// capabilities is a host's set of containerd capabilities; empty means all.
type capabilities struct{ pull, resolve bool }

func parseCapabilities(names []string) (capabilities, error) {
	if len(names) == 0 {
		return capabilities{pull: true, resolve: true}, nil
	}
	var c capabilities
	for _, n := range names {
		switch strings.ToLower(n) {
		case "pull":
			c.pull = true
		case "resolve":
			c.resolve = true
		case "push", "referrers":
		default:
			return capabilities{}, fmt.Errorf("unknown capability %q (want pull, resolve, push or referrers)", n)
		}
	}
	return c, nil
}

// pullFrom: containerd resolves a tag on hosts that can pull and resolve, and fetches a
// digest from hosts that can pull.
func (c capabilities) pullFrom() (PullFrom, bool) {
	switch {
	case !c.pull:
		return All, false
	case !c.resolve:
		return DigestOnly, true
	}
	return All, true
}

// hostLocation turns a host URL of hosts.toml into a registry location. containerd sends
// requests to the URL's path, with /v2 appended unless override_path says the path is
// already the API root; so an API root "/v2" is the host itself, "/v2/team" a namespace
// team on it. Another root is no registry location pullguard can name.
func hostLocation(server string, overridePath bool) (string, error) {
	raw := server
	if !strings.HasPrefix(raw, "http") {
		raw = "https://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("host %q: %w", server, err)
	}
	if u.Host == "" {
		return "", fmt.Errorf("host %q: no host", server)
	}
	root := "/v2"
	if u.Path != "" {
		root = path.Clean(u.Path)
		if !overridePath && !strings.HasSuffix(root, "/v2") {
			root += "/v2"
		}
	} else if overridePath {
		root = ""
	}
	switch {
	case root == "/v2":
		return u.Host, nil
	case strings.HasPrefix(root, "/v2/"):
		return u.Host + root[len("/v2"):], nil
	}
	return "", fmt.Errorf("host %q: API root %q is not /v2 or /v2/<namespace>: pullguard cannot name that endpoint as a registry location", server, root)
}
