#!/bin/bash
# Stand-in for the Jupyter Docker Stacks images' /usr/local/bin/start.sh (their ENTRYPOINT is
# `tini -g -- start.sh`), written for the journey from what that script does when the container
# starts as a non-root user, as KubeSpawner starts notebook pods (uid 1000, gid 100): read at
# jupyter/docker-stacks images/docker-stacks-foundation/start.sh (versions/images.ts names the
# commit). Not the upstream script: only its non-root path, the part a hub's spawn goes through.
#   - no command: start bash (the image's CMD, start-notebook.py, is not stood in: KubeSpawner.cmd
#     always replaces it);
#   - source the *.sh and run the executable files of start-notebook.d, then of before-notebook.d
#     (upstream fails when a folder is missing: the image makes both);
#   - warn when the uid has no passwd entry, or NB_UID/NB_GID ask for ids it cannot take as non-root;
#   - unset the variables JUPYTER_ENV_VARS_TO_UNSET names, then exec the command.
set -e
log() { echo "start.sh (journey stand-in): $*" >&2; }

[ $# -gt 0 ] || set -- bash

run_hooks() {
  local dir=$1 f
  [ -d "$dir" ] || {
    log "hook folder $dir is missing"
    return 1
  }
  for f in "$dir"/*; do
    if [[ "$f" == *.sh ]]; then
      # shellcheck source=/dev/null
      source "$f"
    elif [ -x "$f" ]; then
      "$f"
    fi
  done
}

if [ "$(id -u)" = 0 ]; then
  log "started as root: the journey runs notebook pods as KubeSpawner does, never as root"
  exit 1
fi
run_hooks /usr/local/bin/start-notebook.d
whoami >/dev/null 2>&1 || log "no passwd entry for uid $(id -u) (upstream renames jovyan where /etc/passwd is writable)"
[ "${NB_UID:-$(id -u)}" = "$(id -u)" ] || log "NB_UID=$NB_UID needs a root start"
[ "${NB_GID:-$(id -g)}" = "$(id -g)" ] || log "NB_GID=$NB_GID needs a root start"
run_hooks /usr/local/bin/before-notebook.d
for v in ${JUPYTER_ENV_VARS_TO_UNSET//,/ }; do unset "$v"; done
unset JUPYTER_ENV_VARS_TO_UNSET
log "executing: $*"
exec "$@"
