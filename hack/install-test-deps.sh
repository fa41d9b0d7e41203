#!/usr/bin/env bash
# Installs what `make test` needs that Go modules cannot provide: the Debian packages whose
# programs the tests run, each checked by the path the tests run it from.
#   docker-registry  the real registry of the verification tests (test/harness/registry.go)
#   containerd, runc the node test's runtime (test/harness/node.go)
#   skopeo           copies images between the test registries as a client other than pullguard
# As root it installs what is missing with apt-get; otherwise it names the packages and fails,
# since the node test needs root anyway.
set -euo pipefail

# package: the files the tests need from it
packages=(
	"docker-registry:/usr/bin/docker-registry"
	"containerd:/usr/bin/containerd /usr/bin/ctr /usr/bin/containerd-shim-runc-v2"
	"runc:/usr/sbin/runc"
	"skopeo:/usr/bin/skopeo"
)

missing=()
for p in "${packages[@]}"; do
	name=${p%%:*}
	for file in ${p#*:}; do
		if [ ! -x "$file" ]; then
			missing+=("$name")
			break
		fi
	done
done
if ((${#missing[@]} == 0)); then
	exit 0
fi

if [ "$(id -u)" != 0 ]; then
	echo "make test needs Debian packages that are not installed: ${missing[*]}" >&2
	echo "install them with:  sudo apt-get install -y ${missing[*]}" >&2
	echo "(or run make test as root, which installs them; the node test needs root anyway)" >&2
	exit 1
fi
echo ">> installing Debian packages the tests run: ${missing[*]} (apt-get, once)"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
