"""A program that keeps a file open with a POSIX lock on it, as an editor or a notebook kernel
might, on the kernel lab's NFS mount. Run in the lab as the notebook user; controlled through a
folder on the lab's node: `<control>/write-<n>` asks for one appended line, written and fsynced
through the same open file, answered in `<control>/result-<n>` with "ok" or the error's name;
`<control>/stop` ends it. It says "locked" in `<control>/state` once it holds the lock."""

import errno
import fcntl
import os
import sys
import time

path, control = sys.argv[1], sys.argv[2]


def answer(name: str, text: str) -> None:
    with open(os.path.join(control, name + ".tmp"), "w") as f:
        f.write(text)
    os.rename(os.path.join(control, name + ".tmp"), os.path.join(control, name))


fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o640)
fcntl.lockf(fd, fcntl.LOCK_EX)
answer("state", "locked")
while not os.path.exists(os.path.join(control, "stop")):
    for name in sorted(os.listdir(control)):
        if not name.startswith("write-"):
            continue
        n = name[len("write-") :]
        try:
            os.write(fd, f"line {n}\n".encode())
            os.fsync(fd)
            result = "ok"
        except OSError as e:
            result = errno.errorcode.get(e.errno, str(e.errno))
        os.remove(os.path.join(control, name))
        answer("result-" + n, result)
    time.sleep(0.05)
