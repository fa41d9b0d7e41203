package check

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/pflag"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
)

// DefaultServerConfig is the ConfigMap (namespace/name) holding the server's settings: the
// Deployment mounts it for `webhook serve --config-dir`, and `check --cluster` reads it, so
// both decide with the same private registries, node credentials and defaults.
const DefaultServerConfig = "pullguard/pullguard-config"

// serverConfigKeys are the settings check takes from the server's ConfigMap: serve's flags
// that change a decision and that check has too.
var serverConfigKeys = []string{
	"private-registries", "node-credentials", "default-mode", "default-failure-policy",
	"internal-registries", "verify", "verify-timeout", "verify-max-probes", "verify-deny-networks",
	"runtime",
}

// serverLocalKeys are paths in the server's pod or on the nodes: check cannot read them and
// says so, naming its own flag.
var serverLocalKeys = []string{"node-credentials-file", "image-credential-provider-config", "registry-ca-file", "registries-conf", "containerd-hosts-dir"}

// ApplyConfig sets, from a ConfigMap's data (key: a flag's name; value: one flag value per
// line, several for a repeatable flag), every flag that the command line did not set and
// that allow accepts. Empty values are left unset. It returns the keys applied.
func ApplyConfig(fs *pflag.FlagSet, data map[string]string, allow func(key string) bool) ([]string, error) {
	keys := make([]string, 0, len(data))
	for k := range data {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var applied []string
	for _, key := range keys {
		if !allow(key) {
			continue
		}
		f := fs.Lookup(key)
		if f == nil {
			return applied, fmt.Errorf("%q is not a flag", key)
		}
		if f.Changed {
			continue // the command line wins
		}
		set := false
		for _, line := range strings.Split(data[key], "\n") {
			if line = strings.TrimSpace(line); line == "" {
				continue
			}
			if err := fs.Set(key, line); err != nil {
				return applied, fmt.Errorf("%s: %w", key, err)
			}
			set = true
		}
		if set {
			applied = append(applied, key)
		}
	}
	return applied, nil
}

// applyServerConfig reads the server's ConfigMap ref (namespace/name) from the cluster and
// applies its settings to the flags not given. A ConfigMap that is absent or that the user
// may not read is a note, not an error: the flags alone then decide.
func applyServerConfig(ctx context.Context, g genericclioptions.RESTClientGetter, ref string, fs *pflag.FlagSet, notes func(string)) error {
	ns, name, ok := strings.Cut(ref, "/")
	if !ok || ns == "" || name == "" {
		return fmt.Errorf("--server-config %q is not namespace/name", ref)
	}
	client, err := clientset(g)
	if err != nil {
		return err
	}
	cm, err := client.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		notes(fmt.Sprintf("ConfigMap %s not found: only the flags given decide (--server-config= turns this off)", ref))
		return nil
	case apierrors.IsForbidden(err):
		notes(fmt.Sprintf("may not read ConfigMap %s: only the flags given decide", ref))
		return nil
	case err != nil:
		return fmt.Errorf("--server-config %s: %w", ref, err)
	}
	applied, err := ApplyConfig(fs, cm.Data, func(key string) bool { return slices.Contains(serverConfigKeys, key) })
	if err != nil {
		return fmt.Errorf("ConfigMap %s: %w", ref, err)
	}
	var settings []string
	for _, key := range applied {
		settings = append(settings, key+"="+fs.Lookup(key).Value.String())
	}
	if len(settings) > 0 {
		notes(fmt.Sprintf("settings of ConfigMap %s: %s", ref, strings.Join(settings, ", ")))
	}
	for _, key := range serverLocalKeys {
		if strings.TrimSpace(cm.Data[key]) != "" && !fs.Changed(key) {
			notes(fmt.Sprintf("ConfigMap %s sets %s, a path on the server or the nodes: give --%s to use a copy", ref, key, key))
		}
	}
	return nil
}
