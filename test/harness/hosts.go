package harness

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// WriteHostsToml writes dir/<registry>/hosts.toml, containerd's registry host configuration
// (the CRI plugin's config_path): containerd pulls registry's images from each of mirrors in
// order, then from registry itself, all over TLS trusting caFile. A mirror may pull and
// resolve (tags and digests), as a pull-through mirror does.
//
// Hosts are spelled with an https:// scheme: without one containerd takes a 127.0.0.1
// registry for plain HTTP. A file without mirrors gets an empty [host] table: containerd
// 1.6 and 1.7 ignore a hosts.toml with no host tree ("invalid `host` tree",
// containerd/containerd#10027) and would pull 127.0.0.1 over plain HTTP.
func WriteHostsToml(dir, registry, caFile string, mirrors ...string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "server = %q\nca = %q\n", "https://"+registry, caFile)
	if len(mirrors) == 0 {
		b.WriteString("\n[host]\n")
	}
	for _, m := range mirrors {
		fmt.Fprintf(&b, "\n[host.%q]\n  capabilities = [\"pull\", \"resolve\"]\n  ca = %q\n", "https://"+m, caFile)
	}
	hostDir := filepath.Join(dir, registry)
	if err := os.MkdirAll(hostDir, 0o700); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(hostDir, "hosts.toml"), []byte(b.String()), 0o600)
}

// writeMissingHostsToml gives each registry without a hosts.toml in dir a plain one (no
// mirrors), so that a node with config_path still trusts every registry it was given.
func writeMissingHostsToml(dir, caFile string, registries []string) error {
	for _, r := range registries {
		_, err := os.Stat(filepath.Join(dir, r, "hosts.toml"))
		if err == nil {
			continue
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		if err := WriteHostsToml(dir, r, caFile); err != nil {
			return err
		}
	}
	return nil
}
