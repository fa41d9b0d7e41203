// Package mirrors owns where a container runtime really sends a pull: given an image and a
// node's mirror configuration, the endpoints the runtime tries in order and, at each,
// whether the kubelet's credential goes along or the node's own auth file is read.
//
// It models two runtimes' rules, each checked against its source: CRI-O's
// (containers/image: pkg/sysregistriesv2 for matching and rewriting, docker/ for blocking
// and credentials) and containerd's (remotes/docker/config hosts.toml and the CRI plugin's
// credential callback). Its inputs are parsed here from bytes or an fs.FS the caller
// opened: registries.conf, containerd's hosts directory, and OpenShift's mirror set objects
// (merged as the machine-config operator merges them, openshift/runtime-utils).
//
// It is pure, like pkg/registryauth: no file or network I/O, no Kubernetes client or API
// machinery, no registry transport (depcheck_test.go enforces it). The mirror set types are
// local so that decoding them needs encoding/json only.
package mirrors
