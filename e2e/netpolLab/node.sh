# shellcheck shell=sh
# The network policy lab's node, inside the kernel lab's kernel (sourced by its requests): what a
# GKE node with a bridge CNI has, built from the kernel's own pieces. The lab kernel's first network
# namespace is the node's: its eth0 (a TAP device whose other end is in a namespace the test made
# on this machine, where the API server's relay listens), the pods' bridge, the link-local
# addresses GKE answers on, and kube-router. Every pod is a network namespace of its own on the
# bridge. Nothing here touches this machine's network: all of it lives in the lab's kernel.

pod_bridge=cbr0
# The lab's requests set podnet to podnet.py's path before sourcing this file.
: "${podnet:?podnet names podnet.py}"

# node_up NODE_IP/PREFIX BRIDGE_IP/PREFIX PUBLIC_IP: the node's network.
node_up() {
  # The netfilter, ipset and bridge modules kube-router's policy controller uses (iptables rules
  # with set, conntrack, comment, mark, physdev, addrtype, multiport, limit, NFLOG matches), and
  # the lab's kube-proxy rules (DNAT, MASQUERADE).
  for m in veth bridge br_netfilter dummy ip_tables iptable_filter iptable_nat nf_conntrack nf_nat \
    ip_set ip_set_hash_ip ip_set_hash_net ip_set_hash_ipport ip_set_hash_ipportnet ip_set_bitmap_port \
    xt_set xt_conntrack xt_comment xt_mark xt_physdev xt_addrtype xt_multiport xt_tcpudp xt_limit \
    xt_NFLOG nfnetlink_log xt_nat xt_MASQUERADE ipt_REJECT; do
    modprobe -d /run/modules "$m" || return 1
  done
  # iptables-nft cannot make its tables in this kernel; kube-router runs iptables-save/-restore by
  # name. The alternatives live on the guest's copy-on-write root, not on this machine.
  for t in iptables ip6tables; do
    update-alternatives --quiet --set "$t" "/usr/sbin/$t-legacy" || return 1
  done
  sysctl -qw net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1 || return 1
  ip link set eth0 up && ip addr add "$1" dev eth0 || return 1
  ip link add "$pod_bridge" type bridge && ip addr add "$2" dev "$pod_bridge" && ip link set "$pod_bridge" up || return 1
  # NodeLocal DNSCache's address sits on a dummy interface of the node (as GKE's node-local-dns
  # does); the metadata server's address is the node's too, as GKE answers it for pods.
  ip link add link-local type dummy && ip link set link-local up || return 1
  ip addr add 169.254.20.10/32 dev link-local scope link && ip addr add 169.254.169.254/32 dev link-local scope link || return 1
  # "The internet": one namespace behind the node, at an address outside every private range.
  ip netns add internet && ip link add internet type veth peer name eth0 netns internet || return 1
  ip link set internet up && ip addr add 198.51.100.1/24 dev internet || return 1
  ip -n internet link set lo up && ip -n internet link set eth0 up || return 1
  ip -n internet addr add "$3/24" dev eth0 && ip -n internet route add default via 198.51.100.1
}

# pod_up NAME VETH IP/PREFIX GATEWAY: a pod's network namespace on the bridge, as a bridge CNI
# makes it (VETH: the node's end, a name of at most 15 characters).
pod_up() {
  ip netns add "$1" && ip link add "$2" type veth peer name eth0 netns "$1" || return 1
  ip link set "$2" master "$pod_bridge" up || return 1
  # Hairpin, as the bridge CNI's hairpinMode (kubelet's hairpin-veth) sets it: a pod's connection
  # to its own Service, DNATed back to it on the bridge, leaves by the port it came in by (and is
  # masqueraded, as kube-proxy does: serviceRules in index.ts).
  ip link set "$2" type bridge_slave hairpin on || return 1
  ip -n "$1" link set lo up && ip -n "$1" link set eth0 up && ip -n "$1" addr add "$3" dev eth0 || return 1
  ip -n "$1" route add default via "$4"
}

# serve NETNS SPEC LOG: starts podnet.py serve SPEC in that namespace ("" for the node's), in the
# background (python takes seconds to start in this kernel: start them all, then serve_wait).
serve() {
  if [ -n "$1" ]; then
    setsid ip netns exec "$1" python3 "$podnet" serve "$2" >"$3" 2>&1 </dev/null &
  else
    setsid python3 "$podnet" serve "$2" >"$3" 2>&1 </dev/null &
  fi
}

# serve_wait LOG...: returns once each of those servers listens.
serve_wait() {
  for log in "$@"; do
    for _ in $(seq 1 600); do
      grep -q '^serving' "$log" && break
      sleep 0.1
    done
    grep -q '^serving' "$log" || {
      cat "$log" >&2
      return 1
    }
  done
}
