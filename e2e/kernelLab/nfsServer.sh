# shellcheck shell=sh
# The NFS server container of our Deployment, as the image's ENTRYPOINT runs it: start() and stop()
# of run_nfs.sh (k8s.io/kubernetes test/images/volume/nfs at v1.36.1, the image's source), step by
# step, with Debian's nfs-kernel-server and nfs-common standing in for the image's CentOS Stream 9
# userland. The kernel's nfsd is the lab kernel's, as a pod's is its node's. Sourced by the lab's
# requests; the export lines are written by the caller (kernelLab/index.ts: runNfsExports), which
# reads the container's arguments from the rendered Deployment.

# nfs_start EXPORTS_FILE [GID] -- FOLDER...: what start() does after writing /etc/exports.
nfs_start() {
  cp "$1" /etc/exports
  gid=$2
  shift 3
  for folder in "$@"; do
    if [ -n "$gid" ]; then
      chmod 070 "$folder"
      chgrp "$gid" "$folder"
    fi
    # The image copies its /tmp/index.html (a page saying it is an NFS server) into every export
    # on each start; ours says the same. It shows in the file browser.
    echo "<html><body>NFS server</body></html>" >"$folder/index.html"
    chmod 644 "$folder/index.html"
  done
  rpcinfo 127.0.0.1 >/dev/null 2>&1 || rpcbind -w
  mountpoint -q /proc/fs/nfsd || mount -t nfsd nfsd /proc/fs/nfsd
  rpc.mountd -N 2 -V 3
  exportfs -r
  # The image runs `rpc.nfsd -G 10 -N 2 -V 3`; Debian's rpc.nfsd refuses -N 2, and this kernel
  # has no NFSv2 server at all (CONFIG_NFSD_V2 is not set), so leaving it out changes nothing.
  rpc.nfsd -G 10 -V 3
  rpc.statd --no-notify
}

# nfs_stop: what stop() does on SIGTERM (the pod deleted or restarted).
nfs_stop() {
  rpc.nfsd 0
  exportfs -au
  exportfs -f
  kill "$(pidof rpc.mountd)"
  umount /proc/fs/nfsd
  echo >/etc/exports
}
