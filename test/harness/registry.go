package harness

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/random"
	"golang.org/x/crypto/bcrypt"

	"github.com/pullguard/pullguard/certs"
)

// RegistryBinary is Debian's distribution registry (package docker-registry).
const RegistryBinary = "/usr/bin/docker-registry"

// TLS is a test CA and a serving certificate, written to files.
type TLS struct {
	Bundle   *certs.Bundle
	CAFile   string
	CertFile string
	KeyFile  string
}

// NewTLS makes a CA and a 127.0.0.1 serving certificate under dir.
func NewTLS(dir string) (*TLS, error) {
	t, _, err := NewTLSFor(dir, "127.0.0.1", "localhost")
	return t, err
}

// NewTLSFor makes a CA and a serving certificate for hosts (IP addresses or DNS names)
// under dir: registries on loopback addresses other than 127.0.0.1 need their own.
// CertDir is a directory holding only the CA, as skopeo's --cert-dir wants it (a key
// without its certificate there is an error).
func NewTLSFor(dir string, hosts ...string) (t *TLS, certDir string, err error) {
	b, err := certs.Generate("pullguard-test-registry", hosts, 24*time.Hour)
	if err != nil {
		return nil, "", err
	}
	certDir = filepath.Join(dir, "ca")
	t = &TLS{Bundle: b, CAFile: filepath.Join(certDir, "ca.crt"), CertFile: filepath.Join(dir, "registry.crt"), KeyFile: filepath.Join(dir, "registry.key")}
	if err := os.MkdirAll(certDir, 0o700); err != nil {
		return nil, "", err
	}
	if err := errors.Join(os.WriteFile(t.CAFile, b.CACert, 0o600), os.WriteFile(t.CertFile, b.Cert, 0o600), os.WriteFile(t.KeyFile, b.Key, 0o600)); err != nil {
		return nil, "", err
	}
	return t, certDir, nil
}

// Transport trusts the test CA.
func (t *TLS) Transport() *http.Transport {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(t.Bundle.CACert)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool}
	return tr
}

// RegistryAuth says how a registry authenticates.
type RegistryAuth struct {
	// Users for htpasswd basic auth; none means anonymous access.
	Users map[string]string
	// Token makes the registry delegate to a token server instead.
	Token *TokenServer
}

// Registry is a running docker-registry on a loopback address over TLS.
type Registry struct {
	// Host is ip:port, the registry part of its image references.
	Host string

	tls    *TLS
	config string
	dir    string
	cmd    *exec.Cmd
	waited chan struct{}
}

// StartRegistry starts a registry on 127.0.0.1 with its storage and config under dir.
func StartRegistry(dir string, t *TLS, auth RegistryAuth) (*Registry, error) {
	return StartRegistryOn("127.0.0.1", dir, t, auth)
}

// StartRegistryOn starts a registry as StartRegistry does, on ip (a loopback address: Linux
// routes all of 127.0.0.0/8 to lo). Two registries on one address with different ports are
// different hosts to every runtime; tests need both kinds. t's certificate must name ip.
func StartRegistryOn(ip, dir string, t *TLS, auth RegistryAuth) (*Registry, error) {
	if _, err := os.Stat(RegistryBinary); err != nil {
		return nil, fmt.Errorf("%s not found: install Debian's docker-registry package (make test does, with hack/install-test-deps.sh)", RegistryBinary)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	r := &Registry{Host: net.JoinHostPort(ip, strconv.Itoa(ports[0])), tls: t, dir: dir, config: filepath.Join(dir, "config.yml")}
	authConfig := ""
	switch {
	case auth.Token != nil:
		authConfig = fmt.Sprintf("auth:\n  token:\n    realm: %s\n    service: %s\n    issuer: %s\n    rootcertbundle: %s\n",
			auth.Token.Realm(), auth.Token.Service, tokenIssuer, auth.Token.RootCertFile)
	case len(auth.Users) > 0:
		var lines []string
		for user, pass := range auth.Users {
			hash, err := bcrypt.GenerateFromPassword([]byte(pass), bcrypt.MinCost)
			if err != nil {
				return nil, err
			}
			lines = append(lines, user+":"+string(hash))
		}
		htpasswd := filepath.Join(dir, "htpasswd")
		if err := os.WriteFile(htpasswd, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
			return nil, err
		}
		authConfig = fmt.Sprintf("auth:\n  htpasswd:\n    realm: pullguard-test\n    path: %s\n", htpasswd)
	}
	config := fmt.Sprintf(`version: 0.1
log:
  level: warn
  accesslog: {disabled: true}
storage:
  filesystem: {rootdirectory: %s}
  delete: {enabled: true}
http:
  addr: %s
  debug: {addr: 127.0.0.1:%d}
  tls:
    certificate: %s
    key: %s
%s`, filepath.Join(dir, "data"), r.Host, ports[1], t.CertFile, t.KeyFile, authConfig)
	if err := os.WriteFile(r.config, []byte(config), 0o600); err != nil {
		return nil, err
	}
	return r, r.Start()
}

// Start starts (or restarts) the registry process and waits until it answers.
func (r *Registry) Start() error {
	log, err := os.OpenFile(filepath.Join(r.dir, "registry.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer log.Close()
	cmd := exec.Command(RegistryBinary, "serve", r.config)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return err
	}
	r.cmd, r.waited = cmd, make(chan struct{})
	go func() { cmd.Wait(); close(r.waited) }()
	client := &http.Client{Transport: r.tls.Transport(), Timeout: time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := client.Get("https://" + r.Host + "/v2/")
		if err == nil {
			resp.Body.Close()
			return nil
		}
		select {
		case <-r.waited:
			raw, _ := os.ReadFile(filepath.Join(r.dir, "registry.log"))
			return fmt.Errorf("registry exited: %s", raw)
		case <-time.After(50 * time.Millisecond):
		}
	}
	r.Stop()
	return errors.New("registry did not answer within 30s")
}

// Stop stops the registry process; its storage stays for a restart.
func (r *Registry) Stop() {
	if r.cmd == nil {
		return
	}
	r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.waited:
	case <-time.After(5 * time.Second):
		r.cmd.Process.Kill()
		<-r.waited
	}
	r.cmd = nil
}

// Push writes a small random image to repo:tag with the given credentials ("" for none)
// and returns its reference.
func (r *Registry) Push(ctx context.Context, repoTag, user, password string) (string, error) {
	img, err := random.Image(512, 1)
	if err != nil {
		return "", err
	}
	return r.PushImage(ctx, img, repoTag, user, password)
}

// HangingListener accepts connections on 127.0.0.1 and never answers: a registry that is up
// but stuck. It returns its host:port and a function that closes it.
func HangingListener() (string, func(), error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	done := make(chan struct{})
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				close(done)
				return
			}
			conns = append(conns, c)
		}
	}()
	return l.Addr().String(), func() {
		l.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	}, nil
}
