package harness

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// NodeOptions configure a test node.
type NodeOptions struct {
	// SandboxImage is the pod sandbox image, from a local registry.
	SandboxImage string
	// Registries are host:port of the TLS registries the node pulls from, trusted with
	// CAFile.
	Registries []string
	CAFile     string
	// DockerConfig, when set, is written to the kubelet's root directory as config.json:
	// the node's own credentials, which the kubelet tries after the pod's secrets.
	DockerConfig []byte
	// CredentialProviderConfig, when set, is the kubelet's CredentialProviderConfig; its
	// plugins are looked up in CredentialProviderBinDir.
	CredentialProviderConfig string
	CredentialProviderBinDir string
	// RegistryConfigPath, when set, is containerd's registry config_path: a directory of
	// <host>/hosts.toml (WriteHostsToml), where mirrors are configured. containerd refuses
	// the mirrors and TLS entries Registries otherwise become beside it, so each of
	// Registries without a hosts.toml there gets a plain one trusting CAFile.
	RegistryConfigPath string
}

// Node is a kubelet and containerd on this machine, registered with a Cluster. Pods must be
// hostNetwork (there is no CNI), placed with nodeName, and not mount a service account token
// (no controller-manager publishes kube-root-ca.crt).
type Node struct {
	Name string

	dir        string
	sock       string
	containerd *exec.Cmd
	kubelet    *exec.Cmd
}

// NodeBinaries are what a node needs besides the cluster's binaries.
var NodeBinaries = []string{"/usr/bin/containerd", "/usr/bin/ctr", "/usr/sbin/runc", "/usr/bin/containerd-shim-runc-v2"}

// StartNode starts containerd and a kubelet (bin/kubelet) and waits for the Node object.
func (c *Cluster) StartNode(ctx context.Context, o NodeOptions) (*Node, error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("the test node runs a kubelet and containerd, which mount filesystems and create cgroups: run the tests as root")
	}
	for _, bin := range append(slices.Clone(NodeBinaries), filepath.Join(BinDir(), "kubelet")) {
		if _, err := os.Stat(bin); err != nil {
			return nil, fmt.Errorf("%s not found: the node test needs Debian's containerd and runc (make test installs them with hack/install-test-deps.sh) and bin/kubelet (make test-tools)", bin)
		}
	}
	dir := filepath.Join(c.Dir, "node")
	n := &Node{Name: "pullguard-node", dir: dir, sock: filepath.Join(dir, "containerd", "containerd.sock")}
	for _, d := range []string{"containerd", "kubelet", "pod-logs", "certs"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			return nil, err
		}
	}
	if err := n.startContainerd(o); err != nil {
		n.Stop()
		return nil, err
	}
	if o.DockerConfig != nil {
		// The kubelet reads the node's config.json from its root directory first.
		if err := os.WriteFile(filepath.Join(dir, "kubelet", "config.json"), o.DockerConfig, 0o600); err != nil {
			n.Stop()
			return nil, err
		}
	}
	if err := n.startKubelet(c, o); err != nil {
		n.Stop()
		return nil, err
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		_, err := c.Client.CoreV1().Nodes().Get(ctx, n.Name, metav1.GetOptions{})
		if err == nil {
			return n, nil
		}
		if !apierrors.IsNotFound(err) || time.Now().After(deadline) {
			n.Stop()
			return nil, fmt.Errorf("node %s did not register: %v\n%s", n.Name, err, tail(filepath.Join(dir, "kubelet.log"), 20))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (n *Node) startContainerd(o NodeOptions) error {
	root := filepath.Join(n.dir, "containerd")
	var registries strings.Builder
	for _, host := range o.Registries {
		// containerd takes 127.0.0.1 registries for plain HTTP unless a mirror says https.
		fmt.Fprintf(&registries, "    [plugins.\"io.containerd.grpc.v1.cri\".registry.mirrors.%q]\n      endpoint = [\"https://%s\"]\n", host, host)
		fmt.Fprintf(&registries, "    [plugins.\"io.containerd.grpc.v1.cri\".registry.configs.%q.tls]\n      ca_file = %q\n", host, o.CAFile)
	}
	if o.RegistryConfigPath != "" {
		if err := writeMissingHostsToml(o.RegistryConfigPath, o.CAFile, o.Registries); err != nil {
			return err
		}
		registries.Reset()
		fmt.Fprintf(&registries, "    config_path = %q\n", o.RegistryConfigPath)
	}
	config := fmt.Sprintf(`version = 2
root = %q
state = %q
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.internal.v1.tracing"]
[grpc]
  address = %q
[ttrpc]
  address = %q
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %q
  # Without CAP_SYS_RESOURCE runc cannot lower oom_score_adj ("can't get final child's PID").
  restrict_oom_score_adj = true
  disable_apparmor = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = %q
    conf_dir = %q
  [plugins."io.containerd.grpc.v1.cri".registry]
%s`, filepath.Join(root, "root"), filepath.Join(root, "state"), n.sock, n.sock+".ttrpc", o.SandboxImage,
		filepath.Join(root, "cni-bin"), filepath.Join(root, "cni-conf"), registries.String())
	path := filepath.Join(root, "config.toml")
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		return err
	}
	cmd, err := startLogged(filepath.Join(n.dir, "containerd.log"), "/usr/bin/containerd", "--config", path)
	if err != nil {
		return err
	}
	n.containerd = cmd
	for range 100 {
		if _, err := os.Stat(n.sock); err == nil {
			if n.ctr("version") == nil {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("containerd did not start:\n%s", tail(filepath.Join(n.dir, "containerd.log"), 20))
}

func (n *Node) startKubelet(c *Cluster, o NodeOptions) error {
	ports, err := freePorts(2)
	if err != nil {
		return err
	}
	config := fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# This VM: hybrid cgroup v1, no CAP_SYS_RESOURCE, no swap accounting.
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupsPerQOS: false
enforceNodeAllocatable: []
failSwapOn: false
localStorageCapacityIsolation: false
address: 127.0.0.1
port: %d
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: %d
authentication:
  anonymous: {enabled: true}
  webhook: {enabled: false}
authorization:
  mode: AlwaysAllow
containerRuntimeEndpoint: unix://%s
podLogsDir: %s
registerNode: true
serializeImagePulls: false
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: "1Mi", nodefs.available: "1%%", imagefs.available: "1%%"}
resolvConf: ""
`, ports[0], ports[1], n.sock, filepath.Join(n.dir, "pod-logs"))
	path := filepath.Join(n.dir, "kubelet.yaml")
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		return err
	}
	args := []string{"--config", path, "--kubeconfig", c.Kubeconfig, "--root-dir", filepath.Join(n.dir, "kubelet"),
		"--cert-dir", filepath.Join(n.dir, "certs"), "--hostname-override", n.Name, "--node-ip", "127.0.0.1", "-v", "1"}
	if o.CredentialProviderConfig != "" {
		args = append(args, "--image-credential-provider-config", o.CredentialProviderConfig, "--image-credential-provider-bin-dir", o.CredentialProviderBinDir)
	}
	cmd, err := startLogged(filepath.Join(n.dir, "kubelet.log"), filepath.Join(BinDir(), "kubelet"), args...)
	if err != nil {
		return err
	}
	n.kubelet = cmd
	health := "http://127.0.0.1:" + strconv.Itoa(ports[1]) + "/healthz"
	for range 300 {
		if resp, err := http.Get(health); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if cmd.ProcessState != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("kubelet not healthy:\n%s", tail(filepath.Join(n.dir, "kubelet.log"), 30))
}

// Stop stops the kubelet, then kills and deletes every container containerd runs for it,
// stops containerd and unmounts what they mounted, so that no process or mount outlives
// the test.
func (n *Node) Stop() error {
	var errs []error
	stop(n.kubelet)
	n.kubelet = nil
	if n.containerd != nil {
		for _, kind := range []string{"tasks", "containers"} {
			ids, _ := n.ctrOutput(kind, "ls", "-q")
			for _, id := range ids {
				// --force kills a running task and deletes it in one step. A task may go by
				// itself meanwhile (its sandbox's end takes it along): what counts is that
				// none is left.
				if kind == "tasks" {
					n.ctr(kind, "delete", "--force", id)
				} else {
					n.ctr(kind, "delete", id)
				}
			}
			if left, _ := n.ctrOutput(kind, "ls", "-q"); len(left) > 0 {
				errs = append(errs, fmt.Errorf("containerd %s left after cleanup: %v", kind, left))
			}
		}
		stop(n.containerd)
		n.containerd = nil
	}
	// Shims that lost their containerd exit on their own; make sure.
	exec.Command("pkill", "-KILL", "-f", "containerd-shim-runc-v2 .*"+n.sock).Run()
	errs = append(errs, unmountUnder(n.dir))
	return errors.Join(errs...)
}

// ImportImage puts img into the node's containerd as ref, as an admin preloading an image
// would (`ctr images import`): the kubelet never pulled it.
func (n *Node) ImportImage(img v1.Image, ref string) error {
	tag, err := name.NewTag(ref)
	if err != nil {
		return err
	}
	path := filepath.Join(n.dir, "import.tar")
	if err := tarball.WriteToFile(path, tag, img); err != nil {
		return err
	}
	defer os.Remove(path)
	out, err := exec.Command("/usr/bin/ctr", "--address", n.sock, "--namespace", "k8s.io", "images", "import", "--platform", "linux/amd64", path).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ctr images import: %v: %s", err, out)
	}
	return nil
}

// Log returns the end of the kubelet's log, for failure messages.
func (n *Node) Log(lines int) string { return tail(filepath.Join(n.dir, "kubelet.log"), lines) }

func (n *Node) ctr(args ...string) error {
	_, err := n.ctrOutput(args...)
	return err
}

func (n *Node) ctrOutput(args ...string) ([]string, error) {
	out, err := exec.Command("/usr/bin/ctr", append([]string{"--address", n.sock, "--namespace", "k8s.io"}, args...)...).Output()
	return strings.Fields(string(out)), err
}

func startLogged(logFile, bin string, args ...string) (*exec.Cmd, error) {
	log, err := os.OpenFile(logFile, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, err
	}
	defer log.Close()
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go cmd.Wait()
	return cmd, nil
}

func stop(cmd *exec.Cmd) {
	if cmd == nil || cmd.Process == nil {
		return
	}
	cmd.Process.Signal(syscall.SIGTERM)
	for range 100 {
		if cmd.Process.Signal(syscall.Signal(0)) != nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	cmd.Process.Kill()
}

// unmountUnder unmounts every mount below dir, deepest first.
func unmountUnder(dir string) error {
	f, err := os.Open("/proc/self/mounts")
	if err != nil {
		return err
	}
	defer f.Close()
	var mounts []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) > 1 && strings.HasPrefix(fields[1], dir+"/") {
			mounts = append(mounts, fields[1])
		}
	}
	slices.SortFunc(mounts, func(a, b string) int { return len(b) - len(a) })
	var errs []error
	for _, m := range mounts {
		if err := syscall.Unmount(m, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
			errs = append(errs, fmt.Errorf("unmount %s: %w", m, err))
		}
	}
	return errors.Join(errs...)
}

func tail(path string, lines int) string {
	raw, _ := os.ReadFile(path)
	all := strings.Split(strings.TrimRight(string(raw), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}
