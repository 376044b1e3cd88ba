"""The lab's way to the API server: a TCP relay from a network namespace the test made to loopback.

  python3 relay.py NETNS LISTEN_IP:PORT TARGET_IP:PORT

Started in this machine's own network namespace, it keeps a handle on it, enters NETNS (a path
under /run/netns) and listens there, on the host side of the lab kernel's TAP device; for each
connection it makes its upstream socket back in the first namespace (a socket stays in the
namespace it was made in), so the lab's kube-router and pods reach the control plane that listens
on 127.0.0.1 here, and nothing of this machine's own network is changed or opened.
"""

import ctypes
import os
import selectors
import signal
import socket
import sys

CLONE_NEWNET = 0x40000000
PR_SET_PDEATHSIG = 1
libc = ctypes.CDLL(None, use_errno=True)


def setns(fd):
    if libc.setns(fd, CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), "setns")


def main():
    netns, listen, target = sys.argv[1:4]
    # Ends with the test that started it, even when that test is killed.
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    home = os.open("/proc/self/ns/net", os.O_RDONLY)
    lab = os.open(netns, os.O_RDONLY)
    setns(lab)
    host, port = listen.rsplit(":", 1)
    server = socket.create_server((host, int(port)), reuse_port=False)
    target_host, target_port = target.rsplit(":", 1)
    sel = selectors.DefaultSelector()
    sel.register(server, selectors.EVENT_READ)
    peers = {}
    print("relaying", flush=True)
    while True:
        for key, _ in sel.select():
            sock = key.fileobj
            if sock is server:
                client, _ = server.accept()
                setns(home)
                upstream = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                setns(lab)
                try:
                    upstream.connect((target_host, int(target_port)))
                except OSError:
                    client.close()
                    upstream.close()
                    continue
                peers[client], peers[upstream] = upstream, client
                sel.register(client, selectors.EVENT_READ)
                sel.register(upstream, selectors.EVENT_READ)
                continue
            other = peers.get(sock)
            if other is None:
                continue
            try:
                data = sock.recv(65536)
                if data:
                    other.sendall(data)
                    continue
            except OSError:
                pass
            for s in (sock, other):
                sel.unregister(s)
                peers.pop(s, None)
                s.close()


if __name__ == "__main__":
    main()
