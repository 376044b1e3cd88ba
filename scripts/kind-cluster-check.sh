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
#      to the NFS server, the file browser, 169.254.169.254:80 (a stand-in metadata server on every
#      node, not Google's) or 169.254.20.10:8080 (the health port of a stand-in NodeLocal DNSCache);
#      and that it gets the hub's address for the hub's Service name from 169.254.20.10:53 and
#      169.254.169.254:53 (where NodeLocal DNSCache and Cloud DNS answer on GKE), over UDP and TCP;
#   3. the hub's own pod opens all of them (the paths exist: only the fence closes them);
#   4. the proxy's own pod (an ephemeral container in it, so the proxy's policy applies) gets the
#      same DNS answers, and cannot reach 169.254.169.254:80, 169.254.20.10:8080 or the file browser.
# The targets of 2 and 4 are the cells of the connectivity matrix (e2e/netpolLab/matrix.tsv) that
# this cluster can place; the network policy lab (e2e/netpolLab) asserts every cell of it with
# kube-router in a real kernel.
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
nodelocal_dns_ip="169.254.20.10"

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

# A DaemonSet (namespace node-standins) of one host-network container on every node: $1 its name,
# $2 its image, $3 more YAML lines: the container's (indented for it), then the pod's if any.
standin_daemonset() {
  cat <<EOF
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: $1
  namespace: node-standins
spec:
  selector:
    matchLabels: { app: $1 }
  template:
    metadata:
      labels: { app: $1 }
    spec:
      hostNetwork: true
      dnsPolicy: Default
      tolerations: [{ operator: Exists }]
      containers:
        - name: $1
          image: $2
$3
EOF
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

  local node ip
  for node in $(kind get nodes --name "${cluster}"); do
    log "node ${node}: the NFS client the kubelet mounts with, and the link-local addresses"
    docker exec "${node}" sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nfs-common >/dev/null'
    # On GKE the metadata server (and Cloud DNS) answers 169.254.169.254 and NodeLocal DNSCache
    # 169.254.20.10, on the node itself; so do the stand-ins. At link scope, as link-local
    # addresses are: Cilium gives the node's addresses of wider scope the host identity
    # (local-max-addr-scope), which no ipBlock selects with its defaults; at link scope an ipBlock
    # admits or refuses them, as on GKE Dataplane V2 for its resolvers (tektoncd/operator#4000).
    for ip in "${metadata_ip}" "${nodelocal_dns_ip}"; do
      docker exec "${node}" ip addr add "${ip}/32" dev lo scope link
    done
  done

  # NodeLocal DNSCache is CoreDNS in a host-network pod, answering on its link-local address and
  # forwarding cluster names to kube-dns: the stand-in is the cluster's own CoreDNS image doing the
  # same, on 169.254.169.254:53 (Cloud DNS's place on GKE) too, with its health endpoint on
  # 169.254.20.10:8080 as NodeLocal DNSCache has it (a port besides 53 for the fence to refuse).
  local coredns_image kube_dns_ip
  coredns_image="$(kubectl -n kube-system get deployment coredns -o jsonpath='{.spec.template.spec.containers[0].image}')"
  kube_dns_ip="$(kubectl -n kube-system get service kube-dns -o jsonpath='{.spec.clusterIP}')"
  log "stand-ins on every node: an HTTP server on ${metadata_ip}:80; CoreDNS on ${nodelocal_dns_ip}:53 and ${metadata_ip}:53"
  kubectl apply -f - <<EOF
apiVersion: v1
kind: Namespace
metadata:
  name: node-standins
---
$(standin_daemonset metadata-standin "${probe_image}" "          command: [\"python3\", \"-m\", \"http.server\", \"80\", \"--bind\", \"${metadata_ip}\"]")
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: dns-standin
  namespace: node-standins
data:
  Corefile: |
    .:53 {
        bind ${nodelocal_dns_ip} ${metadata_ip}
        health ${nodelocal_dns_ip}:8080
        forward . ${kube_dns_ip}
        errors
    }
---
$(standin_daemonset dns-standin "${coredns_image}" "          args: [\"-conf\", \"/etc/coredns/Corefile\"]
          securityContext: { runAsUser: 0 }
          volumeMounts: [{ name: config, mountPath: /etc/coredns }]
      volumes: [{ name: config, configMap: { name: dns-standin } }]")
EOF
  kubectl -n node-standins rollout status daemonset/metadata-standin --timeout=5m
  kubectl -n node-standins rollout status daemonset/dns-standin --timeout=5m
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

# The probe, run as `python3 -c "${probe_script}" check TARGET...` in the cluster's pods: the network
# policy lab's podnet.py (Python's standard library only: the probe image has no DNS tools). For
# each target, host:port (a TCP connection) or dns+udp://host:port/name, dns+tcp://... (that name,
# type A, asked over UDP or TCP), it prints "<target> open [address...]" (and rcode=N if the answer
# is an error) or "<target> blocked <error>".
probe_script="$(cat "${repo_root}/e2e/netpolLab/podnet.py")"

# The connectivity matrix, one table for this check and the network policy lab (whose README lists
# every cell and how each was seen).
matrix="${repo_root}/e2e/netpolLab/matrix.tsv"
nfs_ip=""
browser_ip=""
hub_namespace=""

# matrix_targets FROM EXPECT [dns]: the probe arguments for the matrix's cells from FROM that expect
# EXPECT (answer, none): TCP cells as host:port, or with `dns` the DNS cells as
# dns+udp|tcp://host:53/<the hub's Service name>, placed on this cluster ($nfs_ip, $browser_ip,
# $hub_namespace set first). A cell this check has no place for (a second user's pod, the internet
# stand-in, kube-dns's pods, the API server, the proxy's API, the test LDAP server, the NFS server at its
# pod's own address) is named on stderr and left to the lab. Cells from the node or the internet are
# not asked for here (only user-pod and proxy are).
matrix_targets() {
  local from to port probe via expect why address
  while IFS=$'\t' read -r from to port probe via expect why; do
    [[ "${from}" == "$1" && "${expect}" == "$2" ]] || continue
    if [[ "${3:-}" == dns ]]; then
      [[ "${probe}" == dns-* ]] || continue
    else
      [[ "${probe}" == tcp ]] || continue
    fi
    case "${to}:${port}:${via}" in
      nfs-server:2049:service) address="${nfs_ip}:2049" ;;
      file-browser:8080:*) address="${browser_ip}:80" ;; # the Service's port in front of nginx's 8080
      metadata:*) address="${metadata_ip}:${port}" ;;
      nodelocal-dns:*) address="${nodelocal_dns_ip}:${port}" ;;
      *)
        printf 'matrix: %s -> %s:%s (%s) is not checked here (%s)\n' "${from}" "${to}" "${port}" "${probe}" "${why}" >&2
        continue
        ;;
    esac
    if [[ "${probe}" == dns-* ]]; then
      echo "dns+${probe#dns-}://${address}/hub.${hub_namespace}.svc.cluster.local"
    else
      echo "${address}"
    fi
  done < <(grep -v '^#' "${matrix}" | tail -n +2)
}

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

# Runs the probe with the given arguments in a new ephemeral container of pod $2 (namespace $1):
# inside that pod's network namespace, so its own NetworkPolicies apply. Prints the probe's log.
probe_in_pod() {
  local namespace="$1" pod="$2" container state=""
  shift 2
  container="dns-probe-$(date +%s)"
  # restricted: the hub namespace enforces Pod Security baseline, which refuses the SYS_PTRACE the
  # general profile adds; the pod's own runAsUser makes the root image run as non-root.
  kubectl -n "${namespace}" debug "pod/${pod}" --container "${container}" --image "${probe_image}" \
    --profile=restricted -- python3 -c "${probe_script}" check "$@" >/dev/null
  for _ in $(seq 1 60); do
    state="$(kubectl -n "${namespace}" get pod "${pod}" \
      -o jsonpath="{.status.ephemeralContainerStatuses[?(@.name==\"${container}\")].state.terminated.reason}")"
    [[ -n "${state}" ]] && break
    sleep 2
  done
  kubectl -n "${namespace}" logs "${pod}" -c "${container}" || true
  [[ -n "${state}" ]]
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
  local hub_ip targets proxy_targets dns_targets
  nfs_ip="$(output nfsServerIp)"
  browser_ip="$(kubectl -n "${ns}" get service file-browser -o jsonpath='{.spec.clusterIP}')"
  hub_namespace="${ns}"
  hub_ip="$(kubectl -n "${ns}" get service hub -o jsonpath='{.spec.clusterIP}')"
  # The cells of the connectivity matrix this cluster can place (e2e/netpolLab/matrix.tsv, which the
  # network policy lab asserts too): what the user pod and the proxy must not open, and the DNS
  # servers that must give every pod the hub's address.
  mapfile -t targets < <(matrix_targets user-pod none)
  mapfile -t proxy_targets < <(matrix_targets proxy none)
  mapfile -t dns_targets < <(matrix_targets user-pod answer dns)

  log "2. a pod labelled as KubeSpawner labels user pods: the hub and DNS at ${nodelocal_dns_ip} and ${metadata_ip} yes; ${targets[*]} no"
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
        - check
        - ${hub_ip}:8081
$(printf '        - %s\n' "${targets[@]}" "${dns_targets[@]}")
EOF
  )" || fail "the user probe pod did not run to completion"
  printf '%s\n' "${user_out}"

  log "3. the hub's own pod: ${targets[*]} and DNS all open"
  local hub_out
  hub_out="$(kubectl -n "${ns}" exec deploy/hub -- python3 -c "${probe_script}" check "${targets[@]}" "${dns_targets[@]}")"
  printf '%s\n' "${hub_out}"

  local proxy_pod proxy_out
  proxy_pod="$(kubectl -n "${ns}" get pod -l app.kubernetes.io/name=proxy -o jsonpath='{.items[0].metadata.name}')"
  log "4. the proxy's own pod (${proxy_pod}): DNS at ${nodelocal_dns_ip} and ${metadata_ip} yes; ${proxy_targets[*]} no"
  proxy_out="$(probe_in_pod "${ns}" "${proxy_pod}" "${proxy_targets[@]}" "${dns_targets[@]}")" ||
    fail "the probe in the proxy's pod did not run to completion"
  printf '%s\n' "${proxy_out}"

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
  for target in "${proxy_targets[@]}"; do
    grep -q "^${target} blocked" <<<"${proxy_out}" || {
      printf 'FAIL: the proxy reached %s\n' "${target}" >&2
      failed=1
    }
  done
  # The hub's Service name must come back as the hub's address, from each resolver, to each pod.
  local who out
  for target in "${dns_targets[@]}"; do
    for who in "the user pod" "the proxy" "the hub"; do
      case "${who}" in
        "the user pod") out="${user_out}" ;;
        "the proxy") out="${proxy_out}" ;;
        *) out="${hub_out}" ;;
      esac
      grep -qxF "${target} open ${hub_ip}" <<<"${out}" || {
        printf "FAIL: %s got no answer from %s (the hub's address), so it resolves no name where NodeLocal DNSCache or Cloud DNS answers\n" "${who}" "${target}" >&2
        failed=1
      }
    done
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
    sed -n '2,31p' "${BASH_SOURCE[0]}" >&2
    exit 2
    ;;
esac
