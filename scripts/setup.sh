#!/usr/bin/env bash
# The README's set-up command: everything the tests need on a fresh Debian machine.
#   - Debian packages: nginx (checks the file browser's config), slapd + ldap-utils + openssl (the
#     tests' own OpenLDAP servers, test/support/slapd.ts, with throw-away TLS certificates),
#     user-mode-linux and an NFS userland (the kernel lab of npm run e2e, e2e/kernelLab),
#     chromium (the real browser of the journey, driven by playwright-core; Debian only), shellcheck
#     (lints scripts/*.sh, and the `run:` steps of the workflows through actionlint), tini (the
#     hub's and the notebook image's ENTRYPOINT, which the journey runs);
#   - Node.js 24 into a cache folder when the `node` on PATH is older than 22 (scripts/setup-node.sh);
#   - npm dependencies, exactly as locked (configurable-http-proxy among them);
#   - one Python venv per image lock in versions/ (the hub's and the notebook image's programs:
#     JupyterHub, KubeSpawner, LDAPAuthenticator, JupyterLab...), in a cache folder outside the
#     repo keyed by the lock and our Python, installed with hashes required and reused while the
#     lock is unchanged: the tests need no network;
#   - the Kubernetes API schemas (OpenAPI v3 documents of the `k8s.io/kubernetes` Go module, one
#     per Kubernetes release we test against) into the Go module cache, through the Go module proxy
#     (Debian's golang-go is installed if there is no `go`);
#   - actionlint (lints .github/workflows in the unit tests), built from its Go module through the
#     Go module proxy into a cache outside the repository, and reused while it is the pinned version;
#   - promtool (checks and tests the alert rules in the unit tests), the toolchain's promtool part
#     alone (e2e/toolchain/build.sh --only promtool), reused while its pins are unchanged.
# Safe to run again: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_packages=(nginx slapd ldap-utils openssl shellcheck)
# tini: the hub's and the notebook image's ENTRYPOINT, run by the journey's kubelet stand-in.
apt_packages+=(tini)
# The kernel lab (e2e/kernelLab): user-mode-linux is a real Linux kernel run as an ordinary process,
# whose nfsd and NFS client the lab uses; nfs-kernel-server and nfs-common are the NFS userland it
# runs inside that kernel (Debian's standing in for the NFS server image's), kmod loads the
# kernel's modules, xfsprogs and e2fsprogs make and grow its disks, python3 runs its lock holder.
# None of it runs on this machine itself: the services nfs-kernel-server would start are kept off
# below.
apt_packages+=(user-mode-linux nfs-kernel-server nfs-common kmod xfsprogs e2fsprogs python3)
# The kernel lab runs docs/operations.md's copy from an ext4 disk to XFS (rsync -aHAX) in that kernel.
apt_packages+=(rsync)
# The network policy lab (e2e/netpolLab): kube-router's policy controller drives iptables and ipset
# inside that kernel (iptables-legacy: iptables-nft cannot make its table there); iproute2 makes the
# pods' namespaces, veths and bridge. Binaries only: installing them changes no firewall here.
apt_packages+=(iptables ipset iproute2)
# Debian's chromium is a real browser package; Ubuntu's is a wrapper that installs a snap, which
# CI runners cannot run. Only the end-to-end test needs it (e2e/lib/browser.ts says so if missing).
if grep -qx 'ID=debian' /etc/os-release; then
  apt_packages+=(chromium)
else
  echo "setup: not Debian, so no chromium: the browser journey of npm run e2e will not run here" >&2
fi
command -v go >/dev/null 2>&1 || apt_packages+=(golang-go)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
if [ ${#missing[@]} -gt 0 ]; then
  # slapd: no database of its own (the tests configure theirs), no questions asked.
  echo "slapd slapd/no_configuration boolean true" | "${sudo_cmd[@]}" debconf-set-selections
  # flock: apt-get must not run twice at once on a shared machine.
  "${sudo_cmd[@]}" flock /tmp/apt.lock apt-get update -qq
  "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive flock /tmp/apt.lock \
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# The tests start slapd themselves on free loopback ports: keep the system service off (and off
# port 389). Without systemd (containers), policy-rc.d already kept the package from starting it.
# /run/systemd/system exists only when systemd is running (sd_booted(3)): `systemctl` may be
# installed without it, and then reads unit files but cannot disable anything.
systemd_running=false
[ -d /run/systemd/system ] && systemd_running=true
if $systemd_running && systemctl is-active --quiet slapd 2>/dev/null; then
  "${sudo_cmd[@]}" systemctl disable --now slapd
fi

# Installing nfs-kernel-server enables its services (the kernel NFS server, rpcbind): the lab runs
# its own inside user-mode Linux, and this machine needs none of them.
if $systemd_running; then
  for unit in nfs-server rpcbind.socket rpcbind rpc-statd; do
    if systemctl is-enabled --quiet "$unit" 2>/dev/null || systemctl is-active --quiet "$unit" 2>/dev/null; then
      "${sudo_cmd[@]}" systemctl disable --now "$unit"
    fi
  done
fi

# Node.js: @pulumi/pulumi needs 22 or later. Where `node` is older, install the official
# Node.js 24 into the cache (scripts/setup-node.sh), use it from here on, and link it as
# node_modules/.bin/node below: npm puts that folder first on PATH for every `npm run`, so
# `npm test` and the other scripts run on it whatever `node` the shell finds.
node_bin=$(bash scripts/setup-node.sh --if-too-old)
[ -z "$node_bin" ] || PATH="$node_bin:$PATH"

# npm ci starts from an empty node_modules (a minute here): skip it while node_modules is what
# the last npm ci made from this very package-lock.json.
npm_stamp=node_modules/.jupyterhub-nfs-package-lock.sha256
if [ "$(cat "$npm_stamp" 2>/dev/null)" != "$(sha256sum <package-lock.json)" ]; then
  npm ci --no-audit --no-fund
  sha256sum <package-lock.json >"$npm_stamp"
fi
if [ -n "$node_bin" ]; then
  ln -sfn "$node_bin/node" node_modules/.bin/node
  echo "setup: npm scripts run on Node.js $(node --version) (node_modules/.bin/node; the shell's node is older)"
fi

npx tsx scripts/fetch-kubernetes-schemas.ts

# Python venvs: test/support/pythonEnv.ts finds them by the same key (sha256 of the lock, then
# versions/.python-version). A venv is complete once the marker is written; flock keeps two set-ups
# sharing the cache from building the same one at once. --no-deps: the lock lists every package.
# Our Python: pyenv's build of versions/.python-version, else a python3 on PATH of exactly that
# version (in GitHub Actions, actions/setup-python reads the same file).
python_version=$(cat versions/.python-version)
python="${PYENV_ROOT:-$HOME/.pyenv}/versions/$python_version/bin/python3"
if [ ! -x "$python" ] && [ "$(python3 -c 'import platform; print(platform.python_version())' 2>/dev/null)" = "$python_version" ]; then
  python=$(command -v python3)
fi
venvs="${XDG_CACHE_HOME:-$HOME/.cache}/jupyterhub-nfs-python"
mkdir -p "$venvs"
for lock in versions/*.lock; do
  name=$(basename "$lock" .lock)
  venv="$venvs/$name-$(cat "$lock" versions/.python-version | sha256sum | cut -c1-16)"
  [ -e "$venv/.jupyterhub-nfs-complete" ] && continue
  if [ ! -x "$python" ]; then
    echo "setup: no Python $python_version (versions/.python-version): install it with pyenv" >&2
    exit 1
  fi
  (
    flock 9
    [ -e "$venv/.jupyterhub-nfs-complete" ] && exit 0
    started=$(date +%s)
    rm -rf "$venv"
    "$python" -m venv "$venv"
    "$venv/bin/pip" install --quiet --require-hashes --no-deps -r "$lock"
    "$venv/bin/pip" check
    touch "$venv/.jupyterhub-nfs-complete"
    echo "setup: made $venv from $lock in $(($(date +%s) - started))s"
  ) 9>"$venv.lock"
done

# actionlint: test/workflows.test.ts runs it from here (or from $ACTIONLINT).
actionlint_version=v1.7.12
tools_bin="${XDG_CACHE_HOME:-$HOME/.cache}/jupyterhub-nfs-tools/bin"
if [ "$("$tools_bin/actionlint" -version 2>/dev/null | head -n 1)" != "$actionlint_version" ]; then
  echo "building actionlint $actionlint_version into $tools_bin"
  GOBIN="$tools_bin" go install "github.com/rhysd/actionlint/cmd/actionlint@$actionlint_version"
fi

# promtool: test/support/promtool.ts runs it from the toolchain's bin folder (build.sh --print-bin).
bash e2e/toolchain/build.sh --only promtool >/dev/null
