#!/usr/bin/env bash
# The real-cluster check of the network fence (issue 8), as .github/workflows/kind.yml runs it on
# GitHub's runners, and as anyone can run it by hand on a Linux machine with a Docker engine and
# the kernel's NFS server (module nfsd):
#
#   scripts/kind-cluster-check.sh all       # every step below, then destroy and delete (also on failure)
#   scripts/kind-cluster-check.sh cluster   # a two-node kind cluster with Cilium (as GKE Dataplane V2)
#   scripts/kind-cluster-check.sh deploy    # `pulumi up` of the dev stack, local backend
#   scripts/kind-cluster-check.sh check     # the checks below
#   scripts/kind-cluster-check.sh destroy   # `pulumi destroy`
#   scripts/kind-cluster-check.sh delete    # delete the kind cluster
#
# Needs on PATH: docker (with a running engine), kind, kubectl, helm, pulumi, node, and `npm ci`
# done in the repository. It has NOT run on the machine this project is developed on (no Docker
# engine, no kernel NFS server, no container images there); the workflow is where it runs.
#
# On a CNI that enforces NetworkPolicy (Cilium with its defaults, so an ipBlock does not select node
# addresses, as on GKE Dataplane V2), with the real images, it checks that:
#   1. a pod on the node without the NFS server mounts the notebooks claim (the kubelet of another
#      node reaches the NFS server: nothing in the program admits nodes by address);
#   2. a pod labelled as KubeSpawner labels user pods reaches the hub, but cannot open a connection
#      to the NFS server, the file browser or 169.254.169.254 (a stand-in metadata server on every
#      node, not Google's);
#   3. the hub's own pod opens all three (the paths exist: only the fence closes them).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cluster="${KIND_CLUSTER_NAME:-jupyterhub-nfs-check}"
work="${KIND_CHECK_WORKDIR:-${TMPDIR:-/tmp}/jupyterhub-nfs-kind}"
stack="dev"
# Pinned here, so that a hand run and the workflow use the same versions.
kind_node_image="kindest/node:v1.32.2"
cilium_version="1.16.5"
probe_image="docker.io/library/python:3.12-alpine"
metadata_ip="169.254.169.254"

# The project is copied into the work folder and deployed from there: the stack's config is
# adjusted for kind and `pulumi stack init` writes its encryption salt into the stack file, and
# neither may touch the repository's Pulumi.dev.yaml.
project="${work}/project"
export KUBECONFIG="${work}/kubeconfig"
export PULUMI_BACKEND_URL="file://${work}/state"
export PULUMI_CONFIG_PASSPHRASE="${PULUMI_CONFIG_PASSPHRASE:-kind-check-only}"
export PULUMI_NODEJS_TRANSPILE_ONLY=true
export PULUMI_SKIP_UPDATE_CHECK=true

log() { printf '\n== %s\n' "$*" >&2; }
fail() {
  printf 'FAIL: %s\n' "$*" >&2
  exit 1
}

create_cluster() {
  mkdir -p "${work}"
  log "kind cluster ${cluster}: two nodes, no default CNI"
  cat >"${work}/kind.yaml" <<EOF
kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
networking:
  disableDefaultCNI: true
nodes:
  - role: control-plane
    image: ${kind_node_image}
  - role: worker
    image: ${kind_node_image}
EOF
  kind create cluster --name "${cluster}" --config "${work}/kind.yaml" --kubeconfig "${KUBECONFIG}"
  # Both nodes take pods, so that one of them is always a node without the NFS server.
  kubectl taint nodes "${cluster}-control-plane" node-role.kubernetes.io/control-plane:NoSchedule-

  log "Cilium ${cilium_version}, its defaults (ipBlock does not select node addresses, as on GKE Dataplane V2)"
  helm repo add cilium https://helm.cilium.io/ >/dev/null
  helm repo update cilium >/dev/null
  helm install cilium cilium/cilium --version "${cilium_version}" --namespace kube-system \
    --set image.pullPolicy=IfNotPresent --set ipam.mode=kubernetes --wait --timeout 10m
  kubectl wait --for=condition=Ready nodes --all --timeout=5m

  local node
  for node in $(kind get nodes --name "${cluster}"); do
    log "node ${node}: the NFS client the kubelet mounts with, and the metadata address"
    docker exec "${node}" sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nfs-common >/dev/null'
    # On GKE the metadata server answers 169.254.169.254 on the node itself; so does the stand-in.
    docker exec "${node}" ip addr add "${metadata_ip}/32" dev lo
  done

  log "stand-in metadata server: a plain HTTP server on ${metadata_ip}:80 of every node"
  kubectl apply -f - <<EOF
apiVersion: v1
kind: Namespace
metadata:
  name: metadata-standin
---
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: metadata-standin
  namespace: metadata-standin
spec:
  selector:
    matchLabels: { app: metadata-standin }
  template:
    metadata:
      labels: { app: metadata-standin }
    spec:
      hostNetwork: true
      tolerations: [{ operator: Exists }]
      containers:
        - name: http
          image: ${probe_image}
          command: ["python3", "-m", "http.server", "80", "--bind", "${metadata_ip}"]
EOF
  kubectl -n metadata-standin rollout status daemonset/metadata-standin --timeout=5m
}

deploy() {
  log "project copy in ${project}, stack ${stack} with kind's StorageClass (standard)"
  rm -rf "${project}"
  mkdir -p "${project}" "${work}/state"
  tar -C "${repo_root}" --exclude=./node_modules --exclude=./.git -cf - . | tar -C "${project}" -xf -
  ln -s "${repo_root}/node_modules" "${project}/node_modules"
  sed -i -e 's/^\(  jupyterhub-nfs:storageClassName:\).*/\1 standard/' "${project}/Pulumi.${stack}.yaml"
  grep -q '^  jupyterhub-nfs:storageClassName: standard$' "${project}/Pulumi.${stack}.yaml" ||
    fail "Pulumi.${stack}.yaml sets no storageClassName to point at kind's StorageClass"

  log "pulumi up (local backend in ${work}/state), with the policy pack"
  cd "${project}"
  pulumi stack select --create "${stack}" --non-interactive
  pulumi up --stack "${stack}" --yes --skip-preview --non-interactive --policy-pack policy
}

output() {
  (cd "${project}" && pulumi stack output "$1" --stack "${stack}")
}

# Tries a TCP connection to each host:port argument; prints "<target> open" or "<target> blocked".
probe_script='
import socket, sys, time
time.sleep(5)  # let the CNI finish setting up a new pod before judging what it may reach
for target in sys.argv[1:]:
    host, port = target.rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
        print(target, "open")
    except OSError as err:
        print(target, "blocked", type(err).__name__)
'

# Applies a Pod manifest (stdin), waits until it has run to completion, prints its log.
run_pod() {
  local namespace="$1" name="$2" phase=""
  kubectl -n "${namespace}" delete pod "${name}" --ignore-not-found --wait=true >/dev/null
  kubectl -n "${namespace}" apply -f - >/dev/null
  for _ in $(seq 1 90); do
    phase="$(kubectl -n "${namespace}" get pod "${name}" -o jsonpath='{.status.phase}')"
    [[ "${phase}" == Succeeded || "${phase}" == Failed ]] && break
    sleep 2
  done
  kubectl -n "${namespace}" logs "${name}" || true
  if [[ "${phase}" != Succeeded ]]; then
    kubectl -n "${namespace}" describe pod "${name}" >&2 || true
    return 1
  fi
  kubectl -n "${namespace}" delete pod "${name}" --wait=false >/dev/null
}

# The probe script as a YAML block scalar, indented for the manifests below.
indented_probe() {
  local lines
  mapfile -t lines <<<"${probe_script}"
  printf '          %s\n' "${lines[@]}"
}

check() {
  local ns nfs_ns nfs_node other_node claim
  ns="$(output hubNamespace)"
  nfs_ns="$(output nfsNamespace)"
  claim="$(output notebooksClaim)"
  nfs_node="$(kubectl -n "${nfs_ns}" get pod -l app.kubernetes.io/name=nfs-server -o jsonpath='{.items[0].spec.nodeName}')"
  other_node="$(kubectl get nodes -o jsonpath='{range .items[*]}{.metadata.name}{"\n"}{end}' | grep -vx "${nfs_node}" | head -n 1)"
  [[ -n "${other_node}" ]] || fail "no node without the NFS server"

  log "1. a pod on ${other_node} (the NFS server runs on ${nfs_node}) mounts the notebooks claim"
  run_pod "${ns}" mount-check <<EOF || fail "the kubelet on ${other_node} could not mount the notebooks claim"
apiVersion: v1
kind: Pod
metadata:
  name: mount-check
spec:
  nodeName: ${other_node}
  restartPolicy: Never
  automountServiceAccountToken: false
  volumes: [{ name: notebooks, persistentVolumeClaim: { claimName: ${claim} } }]
  containers:
    - name: mount-check
      image: ${probe_image}
      volumeMounts: [{ name: notebooks, mountPath: /srv }]
      command: ["python3", "-c", "import os; p = '/srv/kind-check'; open(p, 'w').write('ok'); print(p, open(p).read()); os.remove(p)"]
EOF

  # By address, so that a DNS failure cannot pass for a blocked connection.
  local nfs_ip browser_ip hub_ip targets
  nfs_ip="$(output nfsServerIp)"
  browser_ip="$(kubectl -n "${ns}" get service file-browser -o jsonpath='{.spec.clusterIP}')"
  hub_ip="$(kubectl -n "${ns}" get service hub -o jsonpath='{.spec.clusterIP}')"
  targets=("${nfs_ip}:2049" "${browser_ip}:80" "${metadata_ip}:80")

  log "2. a pod labelled as KubeSpawner labels user pods: the hub yes; ${targets[*]} no"
  local user_out
  user_out="$(
    run_pod "${ns}" user-probe <<EOF
apiVersion: v1
kind: Pod
metadata:
  name: user-probe
  labels:
    app.kubernetes.io/name: jupyterhub
    app.kubernetes.io/managed-by: kubespawner
    app.kubernetes.io/component: singleuser-server
    component: singleuser-server
    hub.jupyter.org/username: kind-check
spec:
  restartPolicy: Never
  automountServiceAccountToken: false
  containers:
    - name: probe
      image: ${probe_image}
      command:
        - python3
        - -c
        - |
$(indented_probe)
        - ${hub_ip}:8081
$(printf '        - %s\n' "${targets[@]}")
EOF
  )" || fail "the user probe pod did not run to completion"
  printf '%s\n' "${user_out}"

  log "3. the hub's own pod: ${targets[*]} all open"
  local hub_out
  hub_out="$(kubectl -n "${ns}" exec deploy/hub -- python3 -c "${probe_script}" "${targets[@]}")"
  printf '%s\n' "${hub_out}"

  local target failed=0
  grep -qx "${hub_ip}:8081 open" <<<"${user_out}" || {
    printf 'FAIL: the user pod could not reach the hub (%s:8081), so its other results prove nothing\n' "${hub_ip}" >&2
    failed=1
  }
  for target in "${targets[@]}"; do
    grep -q "^${target} blocked" <<<"${user_out}" || {
      printf 'FAIL: the user pod reached %s\n' "${target}" >&2
      failed=1
    }
    grep -qx "${target} open" <<<"${hub_out}" || {
      printf 'FAIL: the hub could not reach %s\n' "${target}" >&2
      failed=1
    }
  done
  [[ "${failed}" == 0 ]] || exit 1
  log "all checks passed"
}

destroy() {
  log "pulumi destroy of stack ${stack}"
  cd "${project}"
  pulumi destroy --stack "${stack}" --yes --skip-preview --non-interactive
}

delete_cluster() {
  log "delete kind cluster ${cluster}"
  kind delete cluster --name "${cluster}"
}

case "${1:-}" in
  cluster) create_cluster ;;
  deploy) deploy ;;
  check) check ;;
  destroy) destroy ;;
  delete) delete_cluster ;;
  all)
    trap '(destroy) || true; delete_cluster || true' EXIT
    create_cluster
    deploy
    check
    ;;
  *)
    sed -n '2,26p' "${BASH_SOURCE[0]}" >&2
    exit 2
    ;;
esac
