/**
 * The program of the NFS server pod's two quota sidecars (components/storage/userQuotas.ts), one
 * Python file with two commands, standard library only:
 *
 * - `enforce`: every few seconds, each folder under notebooks/ that has no XFS project gets one
 *   (`xfs_quota project -s`: the folder and everything in it, with the inherit flag, so what is
 *   made in it later is counted too), and each project's hard block limit is set to the folder's
 *   quota (the default, or its override) when the kernel's differs. Nothing is ever deleted: a
 *   limit below what a folder holds only refuses further writes (EDQUOT).
 * - `export`: Prometheus text on /metrics, and for admins a usage page on /usage/ (HTML: the
 *   disk's fill, each folder's usage, quota and share of it; /usage/usage.json the same as JSON,
 *   which the file browser proxies), read at each request from the kernel's quota report
 *   (`xfs_quota report -p`: no walk of the tree) and statfs of the export.
 *
 * The design follows 2i2c's jupyterhub-home-nfs enforcer (BSD-3-Clause; its generate.py reconciles
 * projects and limits in a loop with the same xfs_quota commands). It is not reused as is: it keeps
 * the project IDs in the container's /etc/projid, given out again in name order at each start (a
 * folder made while it ran shifts the others' IDs at the next start, and every shifted folder is
 * walked again by `project -s`), and its metrics have other names on another port. Here a folder's
 * project ID is read from the folder itself (the inode keeps it), so it survives restarts as it is.
 *
 * Kept as a TypeScript string so that the npm package carries it (the component puts it in a
 * ConfigMap); the kernel lab runs this same text (e2e/kernelLab.test.ts).
 */
export const userQuotasPy = String.raw`#!/usr/bin/env python3
"""Per-user XFS project quotas for the NFS export, and their usage as Prometheus metrics.

enforce ROOT FOLDERS CONFIG INTERVAL: give each folder ROOT/FOLDERS/<name> a project and its limit.
export ROOT FOLDERS PORT: serve /metrics, and the usage page /usage/ (and /usage/usage.json), on PORT.
CONFIG is JSON: {"defaultBytes": n, "overridesBytes": {"<folder>": n}}, read again at every pass
(a mounted ConfigMap changes without a restart).
"""
import fcntl
import html
import http.server
import json
import os
import struct
import subprocess
import sys
import time

# FS_IOC_FSGETXATTR = _IOR('X', 31, struct fsxattr), a struct of 28 bytes: the project ID is its
# fourth 32-bit field (linux/fs.h).
FS_IOC_FSGETXATTR = 0x801C581F
FSXATTR = struct.Struct("=IIIII8x")
# Project IDs we give out start above this; 0 is "no project" (the file system's root is 0).
FIRST_PROJECT_ID = 1000


def log(message):
    print(message, file=sys.stderr, flush=True)


def project_id(path):
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        raw = fcntl.ioctl(fd, FS_IOC_FSGETXATTR, bytes(FSXATTR.size))
    finally:
        os.close(fd)
    return FSXATTR.unpack(raw)[3]


def user_folders(root, folders):
    """{folder name: project ID} for each real folder (not a link, not hidden) under root/folders."""
    found = {}
    with os.scandir(os.path.join(root, folders)) as entries:
        for entry in entries:
            if entry.name.startswith(".") or not entry.is_dir(follow_symlinks=False):
                continue
            try:
                found[entry.name] = project_id(entry.path)
            except FileNotFoundError:
                pass  # removed while we looked
    return found


def xfs_quota(root, command):
    result = subprocess.run(
        ["xfs_quota", "-x", "-c", command, root],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        encoding="utf8",
        errors="surrogateescape",
    )
    # It exits 0 after some failures too (a mount whose device it cannot open: "xfs_quota: cannot
    # setup path for mount ..."), saying so on stderr with its name first.
    errors = [line for line in result.stderr.splitlines() if line.startswith("xfs_quota:")]
    if result.returncode != 0 or errors:
        raise RuntimeError(f"xfs_quota -c '{command}': {result.stderr.strip()}")
    return result.stdout


def quota_report(root):
    """{project ID: (used bytes, hard limit bytes)} from the kernel's report (KiB, IDs as numbers)."""
    report = {}
    for line in xfs_quota(root, "report -p -b -n -N").splitlines():
        fields = line.split()
        # "#<id> <used> <soft> <hard> <warn/grace> ..."
        if len(fields) >= 4 and fields[0].startswith("#") and fields[0][1:].isdigit():
            report[int(fields[0][1:])] = (int(fields[1]) * 1024, int(fields[3]) * 1024)
    return report


def file_system_problem(root):
    """Why root cannot have project quotas, or None when it is XFS mounted with prjquota."""
    mounts = []
    with open("/proc/self/mounts") as f:
        for line in f:
            _, target, fs_type, options = line.split()[:4]
            if root == target or root.startswith(target.rstrip("/") + "/"):
                mounts.append((len(target), fs_type, options.split(",")))
    if not mounts:
        return f"{root} is not on any mount"
    _, fs_type, options = max(mounts)
    if fs_type != "xfs":
        return (
            f"{root} is {fs_type}, not XFS: per-user quotas need XFS mounted with prjquota "
            "(docs/operations.md, Per-user quotas: from an ext4 disk to XFS)"
        )
    if "prjquota" not in options:
        return f"{root} is XFS mounted without prjquota ({','.join(options)}): the kernel enforces no project quota"
    return None


def enforce(root, folders, config_path, interval):
    log(f"enforcing quotas on {os.path.join(root, folders)} every {interval} s")
    while True:
        # Said at every pass, and nothing done, rather than exiting: a container that exits would
        # make the pod unready and stop the NFS server serving every user's files.
        problem = file_system_problem(root)
        if problem:
            log(f"no quota enforced: {problem}")
            time.sleep(interval)
            continue
        try:
            with open(config_path) as f:
                config = json.load(f)
            quotas = config.get("overridesBytes", {})
            default = config["defaultBytes"]
            found = user_folders(root, folders)
            taken = [i for i in found.values() if i >= FIRST_PROJECT_ID]
            next_id = max(taken, default=FIRST_PROJECT_ID) + 1
            for name in sorted(n for n, i in found.items() if i == 0):
                path = os.path.join(root, folders, name)
                # The folder and what is already in it (a folder from before quotas were on), with
                # the inherit flag on folders: what is made in it later belongs to it too.
                xfs_quota(root, f"project -s -p {path} {next_id}")
                log(f"{name}: project {next_id}")
                found[name] = next_id
                next_id += 1
            report = quota_report(root)
            for name, pid in sorted(found.items()):
                if pid == 0:
                    continue
                want = -(-quotas.get(name, default) // 1024)  # KiB, rounded up
                if report.get(pid, (0, 0))[1] != want * 1024:
                    # Only the hard block limit: the other limits stay off.
                    xfs_quota(root, f"limit -p bhard={want}k bsoft=0 ihard=0 isoft=0 {pid}")
                    log(f"{name}: limit {want} KiB (project {pid})")
        except Exception as e:  # a bad pass is logged and retried; the folders keep their last limits
            log(f"pass failed: {e}")
        time.sleep(interval)


def usage(root, folders):
    """What the exporter serves, read at each request: the file system's size and use (statfs) and
    each folder's usage and hard limit (0: none) from the kernel's quota report (no walk of the
    tree); problem says why there is no report (None when it was read)."""
    st = os.statvfs(root)
    try:
        problem = file_system_problem(root)
        if problem:
            raise RuntimeError(problem)
        found = user_folders(root, folders)
        report = quota_report(root)
    except Exception as e:
        log(f"quota report failed: {e}")
        found, report, problem = {}, {}, str(e)
    return {
        "size": st.f_blocks * st.f_frsize,
        "used": (st.f_blocks - st.f_bfree) * st.f_frsize,
        "problem": problem,
        "folders": [(name, *report[pid]) for name, pid in sorted(found.items()) if pid != 0 and pid in report],
    }


def metrics(u):
    lines = []

    def gauge(name, help_text, samples):
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} gauge")
        for labels, value in samples:
            lines.append(f"{name}{labels} {value}")

    def label(name):
        return '{user="' + name.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"}'

    gauge("jupyterhub_nfs_filesystem_size_bytes", "Size of the exported file system.", [("", u["size"])])
    gauge("jupyterhub_nfs_filesystem_used_bytes", "Bytes used on the exported file system.", [("", u["used"])])
    gauge(
        "jupyterhub_nfs_user_used_bytes",
        "Bytes a user's folder holds (its XFS project).",
        [(label(name), used) for name, used, _ in u["folders"]],
    )
    gauge(
        "jupyterhub_nfs_user_quota_bytes",
        "A user's folder's hard limit (its XFS project's).",
        [(label(name), limit) for name, _, limit in u["folders"] if limit > 0],
    )
    gauge(
        "jupyterhub_nfs_quota_report_success",
        "1 when the last quota report was read, else 0.",
        [("", 0 if u["problem"] else 1)],
    )
    return "\n".join(lines) + "\n"


def percent(part, whole):
    return round(100 * part / whole, 1) if whole > 0 else None


def usage_json(u):
    return json.dumps(
        {
            "filesystem": {"sizeBytes": u["size"], "usedBytes": u["used"], "percentUsed": percent(u["used"], u["size"])},
            "quotaReport": {"ok": u["problem"] is None, "problem": u["problem"]},
            "folders": [
                {
                    "folder": name,
                    "usedBytes": used,
                    "quotaBytes": limit or None,
                    "percentOfQuota": percent(used, limit),
                }
                for name, used, limit in u["folders"]
            ],
        },
        indent=1,
    )


def human(n):
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def usage_html(u):
    """The page admins read: the disk's fill, then each folder, the fullest (of its quota) first.
    Folder names come from users' names: everything from the file system is escaped."""
    rows = sorted(u["folders"], key=lambda f: (-(percent(f[1], f[2]) or 0), -f[1], f[0]))
    cells = "".join(
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>".format(
            html.escape(name),
            human(used),
            human(limit) if limit else "none",
            f"{percent(used, limit)} %" if limit else "",
        )
        for name, used, limit in rows
    )
    if u["problem"]:
        body = f"<p>No per-folder usage: the quota report could not be read: {html.escape(u['problem'])}</p>"
    else:
        body = (
            "<table><thead><tr><th>Folder</th><th>Used</th><th>Quota</th><th>Of quota</th></tr></thead>"
            f"<tbody>{cells}</tbody></table>"
        )
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8"><title>Notebooks: usage</title>'
        "<style>td,th{padding:0 1em;text-align:left}</style></head><body><h1>Notebooks: usage</h1>"
        f"<p>Disk: {human(u['used'])} of {human(u['size'])} used ({percent(u['used'], u['size'])} %)</p>"
        f"{body}<p>From the kernel's quota report at this request (<a href=\"usage.json\">JSON</a>).</p>"
        "</body></html>\n"
    )


def export(root, folders, port):
    pages = {
        "/metrics": ("text/plain; version=0.0.4; charset=utf-8", metrics),
        "/usage/": ("text/html; charset=utf-8", usage_html),
        "/usage/usage.json": ("application/json", usage_json),
    }

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path not in pages:
                self.send_error(404)
                return
            content_type, render = pages[self.path]
            body = render(usage(root, folders)).encode()
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass  # one line per scrape is noise

    log(f"serving /metrics and /usage/ on :{port}")
    http.server.ThreadingHTTPServer(("", port), Handler).serve_forever()


if __name__ == "__main__":
    command, root, folders = sys.argv[1:4]
    if command == "enforce":
        enforce(root, folders, sys.argv[4], float(sys.argv[5]))
    elif command == "export":
        export(root, folders, int(sys.argv[4]))
    else:
        sys.exit(f"unknown command {command}")
`;
