package mirrors

import (
	"fmt"
	"strings"
)

// ParseRuntime reads a --runtime value: "crio" (or "cri-o") or "containerd".
func ParseRuntime(s string) (Runtime, error) {
	switch strings.ToLower(s) {
	case "crio", "cri-o":
		return CRIO, nil
	case "containerd":
		return Containerd, nil
	}
	return "", fmt.Errorf("runtime %q: want crio or containerd", s)
}

// New returns the configuration of runtime rt made of the sources given, in order. A
// runtime reads its own files only (CRI-O registries.conf and, on OpenShift, what the
// mirror sets add to it; containerd its hosts.toml directory): give it those.
func New(rt Runtime, sources ...[]Source) *Config {
	c := &Config{Runtime: rt}
	for _, s := range sources {
		c.Sources = append(c.Sources, s...)
	}
	return c
}
