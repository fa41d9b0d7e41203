package registryauth

import "path/filepath"

// matchLabel matches one host label against one glob label with the semantics the kubelet
// uses (filepath.Match; labels never contain a separator).
func matchLabel(pattern, label string) (bool, error) {
	return filepath.Match(pattern, label)
}
