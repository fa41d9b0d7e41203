package mirrors

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseContainerdHosts(t *testing.T) {
	o := OriginHostsToml
	tests := []struct {
		name string
		dirs map[string]string
		want []Source
	}{
		{name: "no directories", dirs: map[string]string{}, want: nil},
		{name: "hosts in file order, server as the source", dirs: map[string]string{"docker.io": `
server = "https://registry-1.docker.io"

[host."https://b.example.com"]
  capabilities = ["pull", "resolve"]
  skip_verify = true
  [host."https://b.example.com".header]
    x-custom = "1"

[host."http://a.example.com:5000"]
  capabilities = ["pull"]
  ca = "/etc/ca.pem"
  dial_timeout = "5s"
`}, want: []Source{{Prefix: "docker.io", Mirrors: []Mirror{
			{Location: "b.example.com", Origin: o("docker.io")},
			{Location: "a.example.com:5000", PullFrom: DigestOnly, Origin: o("docker.io")},
		}}}},
		{name: "another server is the source's location", dirs: map[string]string{"quay.io": `server = "https://quay-proxy.example.com"`},
			want: []Source{{Prefix: "quay.io", Location: "quay-proxy.example.com"}}},
		{name: "host without scheme is https", dirs: map[string]string{"quay.io": `[host."m.example.com"]`},
			want: []Source{{Prefix: "quay.io", Mirrors: []Mirror{{Location: "m.example.com", Origin: o("quay.io")}}}}},
		{name: "push-only hosts are never pulled from", dirs: map[string]string{"quay.io": `
[host."https://push.example.com"]
  capabilities = ["push"]
[host."https://resolve.example.com"]
  capabilities = ["resolve"]
`}, want: []Source{{Prefix: "quay.io"}}},
		{name: "server capabilities", dirs: map[string]string{"quay.io": "server = \"https://quay.io\"\ncapabilities = [\"pull\"]"},
			want: []Source{{Prefix: "quay.io", SourcePullFrom: DigestOnly}}},
		{name: "server without pull is blocked", dirs: map[string]string{"quay.io": "server = \"https://quay-proxy.example.com\"\ncapabilities = [\"push\"]"},
			want: []Source{{Prefix: "quay.io", Location: "quay-proxy.example.com", Blocked: true, BlockedBy: o("quay.io") + " (its capabilities lack pull)"}}},
		// containerd applies the top-level capabilities only to an explicit server: the
		// implicit one (the registry itself) gets every capability (ConfigureHosts).
		{name: "capabilities without a server do not apply", dirs: map[string]string{"quay.io": "capabilities = [\"push\"]\n[host.\"https://m.example.com\"]"},
			want: []Source{{Prefix: "quay.io", Mirrors: []Mirror{{Location: "m.example.com", Origin: o("quay.io")}}}}},
		{name: "resolve-less capabilities without a server do not apply", dirs: map[string]string{"quay.io": `capabilities = ["pull"]`},
			want: []Source{{Prefix: "quay.io"}}},
		{name: "override_path with a namespace", dirs: map[string]string{"quay.io": `
[host."https://harbor.example.com/v2/quay-proxy"]
  override_path = true
[host."https://plain.example.com/v2"]
`}, want: []Source{{Prefix: "quay.io", Mirrors: []Mirror{{Location: "harbor.example.com/quay-proxy", Origin: o("quay.io")}, {Location: "plain.example.com", Origin: o("quay.io")}}}}},
		{name: "host_port_ and host:port directories", dirs: map[string]string{
			"reg.example.com_5000_": `[host."https://a.example.com"]`,
			"reg.example.com:5000":  `[host."https://b.example.com"]`,
			"reg.example.com:5001":  `[host."https://c.example.com"]`,
		}, want: []Source{
			{Prefix: "reg.example.com:5000", Mirrors: []Mirror{{Location: "a.example.com", Origin: o("reg.example.com:5000")}}},
			{Prefix: "reg.example.com:5001", Mirrors: []Mirror{{Location: "c.example.com", Origin: o("reg.example.com:5001")}}},
		}},
		{name: "a directory without hosts.toml has no mirrors", dirs: map[string]string{"quay.io": ""},
			want: []Source{{Prefix: "quay.io"}}},
		{name: "_default", dirs: map[string]string{"_default": `[host."https://m.example.com"]`},
			want: []Source{{Prefix: DefaultHost, Mirrors: []Mirror{{Location: "m.example.com", Origin: o(DefaultHost)}}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseContainerdHosts(hostsDir(tt.dirs))
			if err != nil {
				t.Fatalf("ParseContainerdHosts: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// TestParseContainerdHostsErrors: containerd ignores a hosts.toml it cannot read and pulls
// from the registry itself; the error names the file, and the other hosts still come back.
func TestParseContainerdHostsErrors(t *testing.T) {
	tests := []struct{ name, toml, want string }{
		{"syntax", "[host.\"https://m\"\ncapabilities = [\"pull\"]", "quay.io/hosts.toml (containerd ignores it and pulls from quay.io itself): line"},
		{"unknown capability", "[host.\"https://m.example.com\"]\ncapabilities = [\"pul\"]", `unknown capability "pul"`},
		{"API root pullguard cannot name", "[host.\"https://m.example.com/api\"]", `API root "/api/v2"`},
		{"wrong type", "server = 1", "line 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseContainerdHosts(hostsDir(map[string]string{"quay.io": tt.toml, "docker.io": `[host."https://ok.example.com"]`}))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want it to contain %q", err, tt.want)
			}
			want := []Source{
				{Prefix: "docker.io", Mirrors: []Mirror{{Location: "ok.example.com", Origin: OriginHostsToml("docker.io")}}},
				{Prefix: "quay.io"},
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("sources beside the error: %+v, want %+v", got, want)
			}
		})
	}
}
