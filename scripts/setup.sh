#!/usr/bin/env bash
# The README's set-up command: everything the tests need on a fresh Debian machine.
#   - Debian packages: nginx (checks the file browser's config), python3-traitlets (loads
#     jupyterhub_config.py the way JupyterHub does);
#   - npm dependencies, exactly as locked;
#   - the Kubernetes API schemas (OpenAPI v3 documents of the `k8s.io/kubernetes` Go module, one
#     per Kubernetes release we test against) into the Go module cache, through the Go module proxy
#     (Debian's golang-go is installed if there is no `go`);
#   - actionlint (lints .github/workflows in the unit tests), built from its Go module through the
#     Go module proxy into a cache outside the repository, and reused while it is the pinned version.
# Safe to run again: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_packages=(nginx python3-traitlets)
command -v go >/dev/null 2>&1 || apt_packages+=(golang-go)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
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
