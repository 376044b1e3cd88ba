#!/usr/bin/env bash
# Builds the local toolchain for the end-to-end test and the benchmark from Go modules only
# (the Go module proxy is the one source of binaries on these machines):
#
#   pulumi                      github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
#   pulumi-resource-kubernetes  github.com/pulumi/pulumi-kubernetes/provider/v4
#   etcd                        go.etcd.io/etcd/server/v3
#   kube-apiserver, kube-controller-manager, kube-scheduler, kubectl   k8s.io/kubernetes
#   kwok, kwokctl               sigs.k8s.io/kwok
#   kube-router                 github.com/cloudnativelabs/kube-router/v2 (its network policy
#                               controller enforces our NetworkPolicies in the kernel lab)
#   hydra                       github.com/ory/hydra/v2 (the OpenID Connect provider)
#   promtool                    github.com/prometheus/prometheus/cmd/promtool
#
# Each part is built from a small wrapper module in e2e/toolchain/<part>/ that pins the
# versions below (and mirrors upstream replace lines that point at other modules).
# Output goes to a cache folder outside the repo. Each part is built into a folder of its own,
# keyed by the Go version, that part's pinned versions and its wrapper module, so bumping one pin
# rebuilds that part only (the Kubernetes binaries alone take about 17 minutes here); a part whose
# binaries are already there is reused. The bin folder printed last is keyed by all the parts and
# holds links to the parts' binaries.
#
# Usage: e2e/toolchain/build.sh              build what is missing, print the bin folder last
#        e2e/toolchain/build.sh --print-bin    print the bin folder only (no build)
#        e2e/toolchain/build.sh --only PART    build (or reuse) that part alone and link it into the
#                                              bin folder, printed last (scripts/setup.sh builds
#                                              promtool so: the unit tests run it)
#
# Environment: JHNFS_TOOLCHAIN_CACHE overrides the cache root
# (default ${XDG_CACHE_HOME:-$HOME/.cache}/jupyterhub-nfs-toolchain).
#
# Not built here, because the Go module proxy does not serve them (it answers 403
# "This module version is not available" for every version):
#   - github.com/pulumi/pulumi/sdk/nodejs/cmd/pulumi-language-nodejs/v3 (the Node.js language
#     host): the e2e runs the program through the Automation API's inline program, whose
#     language runtime is served in-process by @pulumi/pulumi itself (pulumi ... --client).
#   - github.com/pulumi/pulumi-random/provider/v4 (pulumi-resource-random).
#   - github.com/pulumi/pulumi-kubernetes/provider/v4 at v4.34.2: the module's release tags
#     (v4.34.2) are repository tags, not provider/v4.x.y module tags, so the proxy only knows
#     pseudo-versions of it, and serves exactly one: the commit pinned below.
set -euo pipefail

# ---- exact versions -------------------------------------------------------------------------
PULUMI_VERSION=v3.276.0                                  # = locked @pulumi/pulumi 3.276.0
K8S_PROVIDER_MODULE_VERSION=v4.0.0-20260115033456-f47bc2d6f199
K8S_PROVIDER_PLUGIN_VERSION=4.0.0-20260115033456-f47bc2d6f199
ETCD_VERSION=v3.6.16
KUBERNETES_VERSION=v1.36.1                               # staging modules at v0.36.1
KWOK_VERSION=v0.8.0                                      # its default Kubernetes is 1.36.1
KUBE_ROUTER_VERSION=v2.1.0                               # the only v2 the proxy serves
HYDRA_VERSION=v2.3.0                                     # Ory Hydra, the OIDC journey's provider
PROMETHEUS_VERSION=v0.316.0                              # = Prometheus 3.16.0 (its VERSION file)
# ---------------------------------------------------------------------------------------------

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache_root="${JHNFS_TOOLCHAIN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/jupyterhub-nfs-toolchain}"

go_version="$(go env GOVERSION)"

# part_key NAME PINNED...: the cache key of one part (Go version, its pins, its wrapper module).
part_key() {
  local name="$1"
  shift
  {
    printf '%s\n' "$go_version" "$@"
    cat "$here/$name"/go.mod "$here/$name"/go.sum
    [[ "$name" != k8s-provider ]] || cat "$here/k8s-provider/main.go"
  } | sha256sum | cut -c1-16
}
declare -A part_dir=(
  [pulumi]="$cache_root/parts/pulumi-$(part_key pulumi "$PULUMI_VERSION")"
  [k8s-provider]="$cache_root/parts/k8s-provider-$(part_key k8s-provider "$K8S_PROVIDER_MODULE_VERSION" "$K8S_PROVIDER_PLUGIN_VERSION")"
  [etcd]="$cache_root/parts/etcd-$(part_key etcd "$ETCD_VERSION")"
  [kubernetes]="$cache_root/parts/kubernetes-$(part_key kubernetes "$KUBERNETES_VERSION")"
  [kwok]="$cache_root/parts/kwok-$(part_key kwok "$KWOK_VERSION")"
  [kube-router]="$cache_root/parts/kube-router-$(part_key kube-router "$KUBE_ROUTER_VERSION")"
  [hydra]="$cache_root/parts/hydra-$(part_key hydra "$HYDRA_VERSION")"
  [promtool]="$cache_root/parts/promtool-$(part_key promtool "$PROMETHEUS_VERSION")"
)
version_key="$(printf '%s\n' "${part_dir[@]}" | sort | sha256sum | cut -c1-16)"
root="$cache_root/$version_key"
bin="$root/bin"

if [[ "${1:-}" == "--print-bin" ]]; then
  echo "$bin"
  exit 0
fi

only=""
if [[ "${1:-}" == "--only" ]]; then
  only="${2:?--only needs a part name}"
  [[ -n "${part_dir[$only]:-}" ]] || {
    echo "toolchain: no part named $only (parts: ${!part_dir[*]})" >&2
    exit 2
  }
fi

mkdir -p "$bin"
export GOFLAGS="${GOFLAGS:-} -trimpath -buildvcs=false"
ldflags_base="-s -w"
total_start=$SECONDS

# part NAME BINARIES... -- COMMAND...: runs COMMAND with $out set to the part's own bin folder,
# unless every binary is already there; then links each binary into $bin. With --only, every
# other part is skipped.
part() {
  local name="$1"
  shift
  [[ -z "$only" || "$only" == "$name" ]] || return 0
  local outs=()
  while [[ "$1" != "--" ]]; do
    outs+=("$1")
    shift
  done
  shift
  out="${part_dir[$name]}/bin"
  mkdir -p "$out"
  local missing=0 o
  for o in "${outs[@]}"; do [[ -x "$out/$o" ]] || missing=1; done
  if [[ $missing == 0 ]]; then
    printf 'toolchain: %-14s reused (%s)\n' "$name" "${outs[*]}" >&2
  else
    local start=$SECONDS
    printf 'toolchain: %-14s building %s ...\n' "$name" "${outs[*]}" >&2
    "$@"
    for o in "${outs[@]}"; do
      [[ -x "$out/$o" ]] || {
        echo "toolchain: $name did not produce $o" >&2
        exit 1
      }
    done
    printf 'toolchain: %-14s built in %ds\n' "$name" "$((SECONDS - start))" >&2
  fi
  for o in "${outs[@]}"; do ln -sfn "$out/$o" "$bin/$o"; done
}

# build_one DIR LDFLAGS NAME PACKAGE: builds PACKAGE in the module at DIR into $out/NAME, through
# a temporary file so that an interrupted build never leaves a half binary a later run would reuse.
build_one() {
  local dir="$1" ldflags="$2" name="$3" pkg="$4"
  local tmp
  tmp="$(mktemp -d "$out/../tmp.XXXXXX")"
  (cd "$dir" && go build -ldflags="$ldflags" -o "$tmp/$name" "$pkg")
  mv "$tmp/$name" "$out/$name"
  rmdir "$tmp"
}

build_pulumi() {
  build_one "$here/pulumi" \
    "$ldflags_base -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$PULUMI_VERSION" \
    pulumi github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
}

build_k8s_provider() {
  # Upstream's main embeds schema-embed.json and terraform-mapping-embed.json, written by its
  # `go generate` step (generate.go) from schema.json and terraform-mapping.json. The module zip
  # has the inputs and generate.go but not the outputs, so build from a copy of the wrapper and
  # run upstream's generate.go there.
  local src="$out/../src" moddir
  rm -rf "$src"
  mkdir -p "$src"
  cp "$here/k8s-provider/go.mod" "$here/k8s-provider/go.sum" "$here/k8s-provider/main.go" "$src/"
  moddir="$(cd "$src" && go mod download -json "github.com/pulumi/pulumi-kubernetes/provider/v4" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  cp "$moddir/cmd/pulumi-resource-kubernetes/schema.json" \
    "$moddir/cmd/pulumi-resource-kubernetes/terraform-mapping.json" \
    "$moddir/cmd/pulumi-resource-kubernetes/generate.go" "$src/"
  chmod u+w "$src"/*
  mkdir -p "$src/gen"
  mv "$src/generate.go" "$src/gen/generate.go"
  (cd "$src" && VERSION="$K8S_PROVIDER_PLUGIN_VERSION" GOFLAGS="$GOFLAGS -mod=mod" go run ./gen/generate.go)
  build_one "$src" \
    "$ldflags_base -X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version=$K8S_PROVIDER_PLUGIN_VERSION" \
    pulumi-resource-kubernetes .
}

build_etcd() {
  build_one "$here/etcd" "$ldflags_base" etcd go.etcd.io/etcd/server/v3
}

build_kubernetes() {
  # Version stamps as upstream's hack/lib/version.sh sets them, so that `--version` and the
  # API server's /version report the real release (kwokctl reads them).
  local v="$KUBERNETES_VERSION" minor
  minor="${v#v1.}"
  minor="${minor%%.*}"
  local x=""
  for pkg in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
    x+=" -X $pkg.gitVersion=$v -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    x+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  local c
  for c in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
    [[ -x "$out/$c" ]] && continue
    local s=$SECONDS
    build_one "$here/kubernetes" "$ldflags_base$x" "$c" "k8s.io/kubernetes/cmd/$c"
    printf 'toolchain:   %-24s %ds\n' "$c" "$((SECONDS - s))" >&2
  done
}

build_kwok() {
  build_one "$here/kwok" "$ldflags_base" kwok sigs.k8s.io/kwok/cmd/kwok
  build_one "$here/kwok" "$ldflags_base" kwokctl sigs.k8s.io/kwok/cmd/kwokctl
}

build_kube_router() {
  # The version stamp as upstream's Makefile sets it (kube-router prints it at start-up).
  build_one "$here/kube-router" \
    "$ldflags_base -X github.com/cloudnativelabs/kube-router/v2/pkg/version.Version=$KUBE_ROUTER_VERSION" \
    kube-router github.com/cloudnativelabs/kube-router/v2/cmd/kube-router
}

build_hydra() {
  # Hydra keeps its clients, keys and sessions in SQL; the sqlite driver (cgo) is behind these
  # tags, as in upstream's own builds, and lets the journey run it with an in-memory database.
  GOFLAGS="$GOFLAGS -tags=sqlite,sqlite_omit_load_extension" \
    build_one "$here/hydra" "$ldflags_base -X github.com/ory/hydra/v2/driver/config.Version=$HYDRA_VERSION" \
    hydra github.com/ory/hydra/v2
}

build_promtool() {
  # Upstream's release flags (.promu.yml): the netgo tag and the version stamp `--version` prints
  # (3.16.0 is the module's VERSION file at v0.316.0; Prometheus 3.x tags its Go module v0.3xx.y).
  local v="${PROMETHEUS_VERSION#v0.}"
  v="3.$((10#${v%%.*} - 300)).${v#*.}"
  GOFLAGS="$GOFLAGS -tags=netgo" build_one "$here/promtool" \
    "$ldflags_base -X github.com/prometheus/common/version.Version=$v" \
    promtool github.com/prometheus/prometheus/cmd/promtool
}

part pulumi pulumi -- build_pulumi
part k8s-provider pulumi-resource-kubernetes -- build_k8s_provider
part etcd etcd -- build_etcd
part kubernetes kube-apiserver kube-controller-manager kube-scheduler kubectl -- build_kubernetes
part kwok kwok kwokctl -- build_kwok
part kube-router kube-router -- build_kube_router
part hydra hydra -- build_hydra
part promtool promtool -- build_promtool

if [[ -n "$only" ]]; then
  echo "$bin"
  exit 0
fi

cat >"$root/versions.txt" <<EOF
go $go_version
pulumi $PULUMI_VERSION (github.com/pulumi/pulumi/pkg/v3/cmd/pulumi)
pulumi-resource-kubernetes $K8S_PROVIDER_PLUGIN_VERSION (github.com/pulumi/pulumi-kubernetes/provider/v4@$K8S_PROVIDER_MODULE_VERSION)
etcd $ETCD_VERSION (go.etcd.io/etcd/server/v3)
kubernetes $KUBERNETES_VERSION (k8s.io/kubernetes: kube-apiserver, kube-controller-manager, kube-scheduler, kubectl)
kwok $KWOK_VERSION (sigs.k8s.io/kwok: kwok, kwokctl)
kube-router $KUBE_ROUTER_VERSION (github.com/cloudnativelabs/kube-router/v2)
hydra $HYDRA_VERSION (github.com/ory/hydra/v2)
promtool $PROMETHEUS_VERSION (github.com/prometheus/prometheus/cmd/promtool)
EOF
printf 'toolchain: total %ds, bin %s\n' "$((SECONDS - total_start))" "$bin" >&2
echo "$bin"
