#!/usr/bin/env bash
# The README's set-up command: everything the tests need on a fresh Debian machine.
#   - Debian packages: nginx (checks the file browser's config), python3-traitlets (loads
#     jupyterhub_config.py the way JupyterHub does), slapd + ldap-utils + openssl (the tests' own
#     OpenLDAP servers, test/support/slapd.ts, with throw-away TLS certificates);
#   - npm dependencies, exactly as locked;
#   - the Kubernetes API schemas (OpenAPI v3 documents of the `k8s.io/kubernetes` Go module, one
#     per Kubernetes release we test against) into the Go module cache, through the Go module proxy
#     (Debian's golang-go is installed if there is no `go`);
#   - actionlint (lints .github/workflows in the unit tests), built from its Go module through the
#     Go module proxy into a cache outside the repository, and reused while it is the pinned version.
# Safe to run again: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_packages=(nginx python3-traitlets slapd ldap-utils openssl)
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
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# The tests start slapd themselves on free loopback ports: keep the system service off (and off
# port 389). Without systemd (containers), policy-rc.d already kept the package from starting it.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet slapd 2>/dev/null; then
  "${sudo_cmd[@]}" systemctl disable --now slapd
fi

npm ci --no-audit --no-fund

npx tsx scripts/fetch-kubernetes-schemas.ts

# actionlint: test/workflows.test.ts runs it from here (or from $ACTIONLINT).
actionlint_version=v1.7.12
tools_bin="${XDG_CACHE_HOME:-$HOME/.cache}/jupyterhub-nfs-tools/bin"
if [ "$("$tools_bin/actionlint" -version 2>/dev/null | head -n 1)" != "$actionlint_version" ]; then
  echo "building actionlint $actionlint_version into $tools_bin"
  GOBIN="$tools_bin" go install "github.com/rhysd/actionlint/cmd/actionlint@$actionlint_version"
fi
