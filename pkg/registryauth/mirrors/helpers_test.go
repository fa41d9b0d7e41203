package mirrors

import (
	"io/fs"
	"testing"
	"testing/fstest"
)

// hostsDir is a containerd config_path: directory name -> its hosts.toml; "" for a
// directory without one.
func hostsDir(dirs map[string]string) fstest.MapFS {
	fsys := fstest.MapFS{}
	for dir, toml := range dirs {
		if toml == "" {
			fsys[dir] = &fstest.MapFile{Mode: fs.ModeDir | 0o755}
			continue
		}
		fsys[dir+"/hosts.toml"] = &fstest.MapFile{Data: []byte(toml)}
	}
	return fsys
}

func containerd(t testing.TB, dirs map[string]string) *Config {
	t.Helper()
	sources, err := ParseContainerdHosts(hostsDir(dirs))
	if err != nil {
		t.Fatalf("ParseContainerdHosts: %v", err)
	}
	return New(Containerd, sources)
}
