// Package harness runs the real parts pullguard's integration tests and demo need: a
// kube-apiserver and etcd (controller-runtime envtest, from the binaries `make test-tools`
// builds into bin/), kubectl, and pullguard's webhook registered with the configurations of
// deploy/base.
package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// Root is the repository root.
var Root = func() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}()

// Cluster is a running kube-apiserver and etcd.
type Cluster struct {
	Config *rest.Config
	Client kubernetes.Interface
	// Kubeconfig is the path of an admin kubeconfig for kubectl.
	Kubeconfig string
	// Dir holds the cluster's files; removed by Stop.
	Dir string

	env *envtest.Environment
}

// BinDir is where the cluster binaries are: $KUBEBUILDER_ASSETS, else bin/.
func BinDir() string {
	if d := os.Getenv("KUBEBUILDER_ASSETS"); d != "" {
		return d
	}
	return filepath.Join(Root, "bin")
}

// StartCluster starts kube-apiserver and etcd with the ServiceAccount admission plugin
// enabled (envtest disables it by default) and the OpenShift stand-in CRDs installed.
func StartCluster() (*Cluster, error) { return StartClusterWith(nil) }

// StartClusterWith is StartCluster with more kube-apiserver flags (name without dashes:
// value), e.g. admission-control-config-file.
func StartClusterWith(apiServerFlags map[string]string) (*Cluster, error) {
	bin := BinDir()
	for _, name := range []string{"kube-apiserver", "etcd", "kubectl"} {
		if _, err := os.Stat(filepath.Join(bin, name)); err != nil {
			return nil, fmt.Errorf("%s not found in %s: run `make test-tools` first", name, bin)
		}
	}
	dir, err := os.MkdirTemp("", "pullguard-cluster-")
	if err != nil {
		return nil, err
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory:    bin,
		CRDDirectoryPaths:        []string{filepath.Join(Root, "test", "harness", "crds")},
		ErrorIfCRDPathMissing:    true,
		ControlPlaneStartTimeout: 2 * time.Minute,
		ControlPlaneStopTimeout:  time.Minute,
	}
	api := env.ControlPlane.GetAPIServer()
	api.Configure().Disable("disable-admission-plugins")
	api.Configure().Set("enable-admission-plugins", "ServiceAccount")
	for name, value := range apiServerFlags {
		api.Configure().Set(name, value)
	}
	cfg, err := env.Start()
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("starting kube-apiserver and etcd: %w", err)
	}
	c := &Cluster{Config: cfg, Dir: dir, env: env}
	admin, err := env.AddUser(envtest.User{Name: "pullguard-admin", Groups: []string{"system:masters"}}, nil)
	if err == nil {
		var kubeconfig []byte
		if kubeconfig, err = admin.KubeConfig(); err == nil {
			c.Kubeconfig = filepath.Join(dir, "kubeconfig")
			err = os.WriteFile(c.Kubeconfig, kubeconfig, 0o600)
		}
	}
	if err == nil {
		quiet := rest.CopyConfig(cfg)
		quiet.WarningHandler = rest.NoWarnings{} // the harness's own probes draw warnings
		c.Client, err = kubernetes.NewForConfig(quiet)
	}
	if err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

// Stop stops the cluster and removes its files.
func (c *Cluster) Stop() error {
	err := c.env.Stop()
	return errors.Join(err, os.RemoveAll(c.Dir))
}

// Kubectl runs kubectl against the cluster with stdin, as a user would.
func (c *Cluster) Kubectl(ctx context.Context, stdin string, args ...string) (stdout, stderr string, err error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(BinDir(), "kubectl"), append([]string{"--kubeconfig", c.Kubeconfig}, args...)...)
	cmd.Stdin = bytes.NewBufferString(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.String(), errOut.String(), err
}
