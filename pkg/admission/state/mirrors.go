package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"

	"github.com/pullguard/pullguard/pkg/registryauth/mirrors"
)

// Where a node's runtime sends a pull is configured in two places: files on the node
// (CRI-O's registries.conf, containerd's hosts.toml directory), and, on OpenShift, mirror
// set objects that the machine-config operator writes into every node's registries.conf.
// This file turns both into the one *mirrors.Config a decision reads; `webhook serve`
// (mirrorwatch.go) and `webhook check` build it with the same functions.

// MirrorSetKind is a kind whose objects configure mirrors, and its resource.
type MirrorSetKind struct {
	schema.GroupVersionKind
	Resource string
}

// GroupVersionResource is the resource the kind is listed and watched at.
func (k MirrorSetKind) GroupVersionResource() schema.GroupVersionResource {
	return k.GroupVersion().WithResource(k.Resource)
}

// MirrorSetKinds are OpenShift's mirror set kinds, all cluster-scoped.
var MirrorSetKinds = []MirrorSetKind{
	{schema.GroupVersionKind{Group: "config.openshift.io", Version: "v1", Kind: "ImageDigestMirrorSet"}, "imagedigestmirrorsets"},
	{schema.GroupVersionKind{Group: "config.openshift.io", Version: "v1", Kind: "ImageTagMirrorSet"}, "imagetagmirrorsets"},
	{schema.GroupVersionKind{Group: "operator.openshift.io", Version: "v1alpha1", Kind: "ImageContentSourcePolicy"}, "imagecontentsourcepolicies"},
}

// IsMirrorSetKind reports whether apiVersion and kind name one of MirrorSetKinds.
func IsMirrorSetKind(apiVersion, kind string) bool {
	gvk := schema.FromAPIVersionAndKind(apiVersion, kind)
	return slices.ContainsFunc(MirrorSetKinds, func(k MirrorSetKind) bool { return k.GroupVersionKind == gvk })
}

// ServedMirrorSetKinds asks discovery which of MirrorSetKinds the API server serves. A
// group version it does not serve is no error: the cluster is not OpenShift.
func ServedMirrorSetKinds(d discovery.DiscoveryInterface) ([]MirrorSetKind, error) {
	resources := map[schema.GroupVersion][]string{}
	var served []MirrorSetKind
	for _, k := range MirrorSetKinds {
		gv := k.GroupVersion()
		names, asked := resources[gv]
		if !asked {
			list, err := d.ServerResourcesForGroupVersion(gv.String())
			switch {
			case apierrors.IsNotFound(err):
			case err != nil:
				return nil, fmt.Errorf("discovering %s: %w", gv, err)
			default:
				for _, r := range list.APIResources {
					if slices.Contains(r.Verbs, "list") && slices.Contains(r.Verbs, "watch") {
						names = append(names, r.Name)
					}
				}
			}
			resources[gv] = names
		}
		if slices.Contains(names, k.Resource) {
			served = append(served, k)
		}
	}
	return served, nil
}

// DecodeMirrorSet decodes a mirror set object (any of MirrorSetKinds) from its content.
func DecodeMirrorSet(obj map[string]any) (mirrors.MirrorSet, error) {
	var set mirrors.MirrorSet
	raw, err := json.Marshal(obj)
	if err == nil {
		err = json.Unmarshal(raw, &set)
	}
	if err != nil {
		return set, fmt.Errorf("%v %v: %w", obj["kind"], nested(obj, "metadata")["name"], err)
	}
	return set, nil
}

// mirrorSetSpecFields are the spec fields of the mirror set kinds: everything the
// configuration is built from, besides the kind and name.
var mirrorSetSpecFields = []string{"imageDigestMirrors", "imageTagMirrors", "repositoryDigestMirrors"}

// stripMirrorSet keeps of a mirror set what the configuration is built from and what the
// informer needs (name, UID, resourceVersion): its annotations (a last-applied
// configuration holds the whole object again), managed fields and status are dropped
// before it is stored.
func stripMirrorSet(obj any) (any, error) {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return obj, nil
	}
	meta := nested(u.Object, "metadata")
	kept := map[string]any{}
	for _, key := range []string{"name", "uid", "resourceVersion"} {
		if v, ok := meta[key]; ok {
			kept[key] = v
		}
	}
	spec := map[string]any{}
	for _, key := range mirrorSetSpecFields {
		if v, ok := nested(u.Object, "spec")[key]; ok {
			spec[key] = v
		}
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": u.GetAPIVersion(), "kind": u.GetKind(), "metadata": kept, "spec": spec,
	}}, nil
}

func nested(obj map[string]any, key string) map[string]any {
	m, _ := obj[key].(map[string]any)
	return m
}

// NodeMirrorFiles are a node's mirror configuration files, as --runtime,
// --registries-conf and --containerd-hosts-dir name them.
type NodeMirrorFiles struct {
	Runtime mirrors.Runtime
	// RegistriesConf is CRI-O's registries.conf; ContainerdHostsDir is containerd's
	// config_path (one directory per host holding its hosts.toml).
	RegistriesConf     string
	ContainerdHostsDir string
}

// Validate refuses a file the runtime does not read: a node's CRI-O never reads hosts.toml,
// nor containerd registries.conf, so the file would silently decide nothing.
func (f NodeMirrorFiles) Validate() error {
	switch f.Runtime {
	case mirrors.CRIO:
		if f.ContainerdHostsDir != "" {
			return errors.New("--containerd-hosts-dir is containerd's: with --runtime=crio give --registries-conf")
		}
	case mirrors.Containerd:
		if f.RegistriesConf != "" {
			return errors.New("--registries-conf is CRI-O's: give --runtime=crio, or --containerd-hosts-dir for containerd")
		}
	default:
		return fmt.Errorf("--runtime %q: want crio or containerd", f.Runtime)
	}
	return nil
}

// Read parses the files. An error names the flag and the file (the parsers name the line).
func (f NodeMirrorFiles) Read() ([]mirrors.Source, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	switch {
	case f.RegistriesConf != "":
		raw, err := os.ReadFile(f.RegistriesConf)
		if err != nil {
			return nil, fmt.Errorf("--registries-conf: %w", err)
		}
		sources, err := mirrors.ParseRegistriesConf(raw)
		if err != nil {
			return nil, fmt.Errorf("--registries-conf %s: %w", f.RegistriesConf, err)
		}
		return sources, nil
	case f.ContainerdHostsDir != "":
		info, err := os.Stat(f.ContainerdHostsDir)
		if err == nil && !info.IsDir() {
			err = errors.New("not a directory")
		}
		if err != nil {
			return nil, fmt.Errorf("--containerd-hosts-dir %s: %w", f.ContainerdHostsDir, err)
		}
		sources, err := mirrors.ParseContainerdHosts(os.DirFS(f.ContainerdHostsDir))
		if err != nil {
			return nil, fmt.Errorf("--containerd-hosts-dir %s: %w", f.ContainerdHostsDir, err)
		}
		return sources, nil
	}
	return nil, nil
}

// MirrorConfig is the configuration a node's runtime has, built from its files (files,
// from NodeMirrorFiles.Read) and the cluster's mirror sets.
//
// containerd reads only its hosts.toml directory: nothing on a node turns mirror sets into
// hosts.toml, so sets are not used with it.
//
// CRI-O's registries.conf on OpenShift is the machine-config operator's: a base file
// edited with the sets (openshift/runtime-utils EditRegistriesConfig), which this follows.
// The file's entries come first; a set's source whose prefix the file has adds its mirrors
// after the file's (skipping a mirror the entry already has, so a copy of a node's
// rendered registries.conf given as the file is not doubled) and blocks it if the set
// says NeverContactSource; other set sources follow. A file entry without mirrors nested
// inside a set's source then takes that source's mirrors, its extra path appended, from
// the first such source in the sets' order.
//
// Sets the operator refuses (mirrors.ValidateMirrorSets) leave every node's
// registries.conf as it was: then the error says why, and the configuration is the files'
// alone; serve keeps its last configuration instead.
func MirrorConfig(rt mirrors.Runtime, files []mirrors.Source, sets []mirrors.MirrorSet) (*mirrors.Config, error) {
	c := &mirrors.Config{Runtime: rt, Sources: cloneSources(files)}
	if rt != mirrors.CRIO || len(sets) == 0 {
		return c, nil
	}
	if err := mirrors.ValidateMirrorSets(sets); err != nil {
		return c, err
	}
	fromSets := mirrors.FromMirrorSets(sets)
	for _, s := range fromSets {
		i := slices.IndexFunc(c.Sources, func(f mirrors.Source) bool { return f.Prefix == s.Prefix })
		if i < 0 {
			c.Sources = append(c.Sources, cloneSource(s))
			continue
		}
		entry := &c.Sources[i]
		for _, m := range s.Mirrors {
			if !slices.ContainsFunc(entry.Mirrors, func(have mirrors.Mirror) bool {
				return have.Location == m.Location && have.PullFrom == m.PullFrom
			}) {
				entry.Mirrors = append(entry.Mirrors, m)
			}
		}
		if s.Blocked && !entry.Blocked {
			entry.Blocked, entry.BlockedBy = true, s.BlockedBy
		}
	}
	for i := range files {
		entry := &c.Sources[i]
		if len(entry.Mirrors) > 0 {
			continue
		}
		for _, s := range fromSets {
			if len(s.Mirrors) == 0 || strings.HasPrefix(s.Prefix, "*.") || !strings.HasPrefix(entry.Prefix, s.Prefix+"/") {
				continue
			}
			rest := entry.Prefix[len(s.Prefix):]
			for _, m := range s.Mirrors {
				m.Location += rest
				entry.Mirrors = append(entry.Mirrors, m)
			}
			break
		}
	}
	return c, nil
}

func cloneSources(in []mirrors.Source) []mirrors.Source {
	out := make([]mirrors.Source, len(in))
	for i, s := range in {
		out[i] = cloneSource(s)
	}
	return out
}

// cloneSource copies a source's mirrors, so that building a configuration never writes
// into the files' sources, which every configuration shares.
func cloneSource(s mirrors.Source) mirrors.Source {
	s.Mirrors = slices.Clone(s.Mirrors)
	return s
}
