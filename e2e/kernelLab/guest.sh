#!/bin/sh
# The kernel lab's init: PID 1 of Debian's user-mode Linux kernel (e2e/kernelLab/index.ts
# boots it). The kernel's root is this machine's `/`, read-only through hostfs. Stage 1 puts a
# copy-on-write root over it (tmpfs above, so nothing is ever written to this machine's folders)
# and pivots into it; stage 2 is the lab's "node": its own /proc, /dev, /run, the package's
# modules, loopback up, the lab's folder on this machine shared at the same path (requests in,
# answers out), then it runs the requests one at a time until asked to halt.
#
# The kernel passes unknown `key=value` words of its command line as environment: lab=<folder>,
# repo=<folder>.
set -u
: "${lab:?the kernel command line names the lab folder: lab=<folder>}"
: "${repo:?the kernel command line names the repository: repo=<folder>}"
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
kernel_release=$(uname -r)

# Debian's user-mode-linux ships its modules under /usr/lib/uml/modules/<release>; modprobe -d
# wants a tree with lib/modules/<release> in it.
load_modules() {
  tree=$1
  shift
  mkdir -p "$tree/lib/modules"
  ln -sfn "/usr/lib/uml/modules/$kernel_release" "$tree/lib/modules/$kernel_release"
  for m in "$@"; do modprobe -d "$tree" "$m" || echo "lab: modprobe $m failed" >&2; done
}

if [ "${1:-}" != stage2 ]; then
  mount -t proc proc /proc
  mount -t tmpfs -o mode=0755 tmpfs /run
  load_modules /run/modules overlay
  mkdir -p /run/cow/upper /run/cow/work /run/cow/root
  mount -t overlay overlay -o lowerdir=/,upperdir=/run/cow/upper,workdir=/run/cow/work /run/cow/root
  mkdir -p /run/cow/root/.oldroot
  cd /run/cow/root || exit 1
  pivot_root . .oldroot
  exec chroot . /bin/sh "$0" stage2
fi

mount -t proc proc /proc
mount -t sysfs sysfs /sys
# A fresh /dev: the old root's /dev is this machine's, seen through hostfs.
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
mount -t tmpfs -o mode=0755 tmpfs /run
mount -t tmpfs -o mode=1777 tmpfs /tmp
umount -l /.oldroot
load_modules /run/modules nfsd nfsv4 loop
ip link set lo up
# The node's own name (the NFS client's); the NFS server's pod gets its own UTS namespace.
hostname node

mkdir -p "$lab"
mount -t hostfs -o "$lab" hostfs "$lab"
# The repository (repo=<folder>), read-only at the same path: the requests run its scripts, and the
# tmpfs on /tmp above would hide a clone made under /tmp.
mkdir -p "$repo"
mount -r -t hostfs -o "$repo" hostfs "$repo"
mkdir -p "$lab/requests" "$lab/answers"
: >"$lab/ready"
while [ ! -e "$lab/halt" ]; do
  for request in "$lab"/requests/*.sh; do
    [ -e "$request" ] || continue
    n=$(basename "$request" .sh)
    sh "$request" >"$lab/answers/$n.out" 2>"$lab/answers/$n.err" </dev/null
    echo $? >"$lab/answers/$n.status.tmp"
    rm -f "$request"
    mv "$lab/answers/$n.status.tmp" "$lab/answers/$n.status"
  done
  sleep 0.05
done
sync
poweroff -f
