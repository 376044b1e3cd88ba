"""What listens and what knocks in the network policy lab (e2e/netpolLab), inside the lab's kernel.

  python3 podnet.py serve SPEC.json   serves, until killed, what SPEC lists:
      {"name": "...", "tcp": ["ip:port", ...], "dns": ["ip:port", ...], "records": {"name": "ip"}}
      each TCP address answers "<name> <port>\n" to whoever connects, then closes; each DNS address
      answers A queries over UDP and TCP from `records` (NXDOMAIN for any other name).
  python3 podnet.py probe PROBES.json  tries each probe at once (threads), prints one JSON object:
      {id: {"result": "answered" | "refused" | "timeout" | "unreachable" | "error", "detail": "..."}}
      probes: [{"id", "kind": "tcp" | "dns-udp" | "dns-tcp" | "https", "ip", "port", "name"?}]
      tcp: connects and reads the server's greeting; dns-*: asks `name` (type A) and reports the
      addresses answered; https: a TLS handshake (no verification: only the answer counts) and
      GET /healthz, reporting the status line.
  python3 podnet.py check TARGET...   the probe of scripts/kind-cluster-check.sh (run there as
      `python3 -c "$(cat podnet.py)" check ...` in pods of a kind cluster): after 5 s (the CNI's
      set-up of a new pod), for each target, host:port (a TCP connection, closed at once: real
      servers there need not greet) or dns+udp://host:port/name, dns+tcp://... (as dns-*), prints
      "<target> open [addresses]", "<target> blocked <error>" or "<target> garbled <error>".

Python's standard library only: the same program runs in every pod's network namespace, on the
lab's node, as the lab's DNS stand-ins (NodeLocal DNSCache, Cloud DNS, kube-dns), and in the kind
check's probe pods (whose image has nothing else).
"""

import errno
import json
import socket
import socketserver
import ssl
import struct
import sys
import threading
import time
from urllib.parse import urlsplit

TIMEOUT = 4.0


def dns_query(name, ident=0x6B63):
    labels = name.strip(".").split(".")
    q = struct.pack(">HHHHHH", ident, 0x0100, 1, 0, 0, 0)
    return q + b"".join(bytes([len(x)]) + x.encode() for x in labels) + b"\0" + struct.pack(">HH", 1, 1)


def dns_answer(query, records):
    """The answer to one query: A records for a known name, else NXDOMAIN."""
    ident, _flags, qdcount = struct.unpack(">HHH", query[:6])
    pos, labels = 12, []
    while query[pos]:
        labels.append(query[pos + 1 : pos + 1 + query[pos]].decode())
        pos += query[pos] + 1
    question = query[12 : pos + 5]
    qtype = struct.unpack(">H", query[pos + 1 : pos + 3])[0]
    address = records.get(".".join(labels).lower())
    if address and qtype == 1 and qdcount == 1:
        header = struct.pack(">HHHHHH", ident, 0x8580, 1, 1, 0, 0)
        record = struct.pack(">HHHIH", 0xC00C, 1, 1, 5, 4) + socket.inet_aton(address)
        return header + question + record
    return struct.pack(">HHHHHH", ident, 0x8583 if not address else 0x8580, 1, 0, 0, 0) + question


def dns_addresses(reply, query_length):
    rcode = reply[3] & 15
    found = [f"rcode={rcode}"] if rcode else []
    pos = query_length
    for _ in range(struct.unpack(">H", reply[6:8])[0]):
        while reply[pos] and reply[pos] < 192:
            pos += reply[pos] + 1
        pos += 2 if reply[pos] >= 192 else 1
        rtype, _, _, length = struct.unpack(">HHIH", reply[pos : pos + 10])
        pos += 10
        if rtype == 1 and length == 4:
            found.append(socket.inet_ntoa(reply[pos : pos + 4]))
        pos += length
    return found


def serve(spec):
    name, records = spec["name"], {k.lower(): v for k, v in spec.get("records", {}).items()}

    class Greeter(socketserver.BaseRequestHandler):
        def handle(self):
            self.request.sendall(f"{name} {self.server.server_address[1]}\n".encode())

    class DnsTcp(socketserver.BaseRequestHandler):
        def handle(self):
            length = struct.unpack(">H", self.request.recv(2))[0]
            query = b""
            while len(query) < length:
                query += self.request.recv(length - len(query))
            reply = dns_answer(query, records)
            self.request.sendall(struct.pack(">H", len(reply)) + reply)

    class DnsUdp(socketserver.BaseRequestHandler):
        def handle(self):
            data, sock = self.request
            sock.sendto(dns_answer(data, records), self.client_address)

    class Tcp(socketserver.ThreadingTCPServer):
        allow_reuse_address = True
        daemon_threads = True

    servers = []
    for address in spec.get("tcp", []):
        ip, port = address.rsplit(":", 1)
        servers.append(Tcp((ip, int(port)), Greeter))
    for address in spec.get("dns", []):
        ip, port = address.rsplit(":", 1)
        servers.append(Tcp((ip, int(port)), DnsTcp))
        servers.append(socketserver.ThreadingUDPServer((ip, int(port)), DnsUdp))
    for s in servers:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    print("serving", flush=True)
    threading.Event().wait()


def attempt(p):
    """One probe; returns what answered (the greeting, the addresses, the status line), raises OSError."""
    if p["kind"] == "connect":
        socket.create_connection((p["ip"], p["port"]), timeout=TIMEOUT).close()
        return ""
    if p["kind"] == "tcp":
        with socket.create_connection((p["ip"], p["port"]), timeout=TIMEOUT) as s:
            return s.recv(200).decode(errors="replace").strip()
    if p["kind"] == "https":
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        with socket.create_connection((p["ip"], p["port"]), timeout=TIMEOUT) as raw:
            with context.wrap_socket(raw) as s:
                s.sendall(f"GET /healthz HTTP/1.1\r\nHost: {p['ip']}\r\nConnection: close\r\n\r\n".encode())
                return s.recv(200).decode(errors="replace").split("\r\n")[0]
    query = dns_query(p["name"])
    if p["kind"] == "dns-udp":
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(TIMEOUT)
            s.connect((p["ip"], p["port"]))  # connected: a closed port is refused, not silent
            s.send(query)
            reply = s.recv(65535)
    else:
        with socket.create_connection((p["ip"], p["port"]), timeout=TIMEOUT) as s:
            s.sendall(struct.pack(">H", len(query)) + query)
            data = b""
            while len(data) < 2 or len(data) < 2 + struct.unpack(">H", data[:2])[0]:
                chunk = s.recv(65535)
                if not chunk:
                    raise ConnectionResetError("closed before the whole answer")
                data += chunk
            reply = data[2:]
    return " ".join(dns_addresses(reply, len(query)))


def probe_one(p):
    try:
        return "answered", attempt(p)
    except (socket.timeout, TimeoutError):
        return "timeout", ""
    except ConnectionRefusedError:
        return "refused", ""
    except OSError as err:
        if err.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
            return "unreachable", err.strerror
        return "error", f"{type(err).__name__}: {err}"


def check(targets):
    time.sleep(5)  # let the CNI finish setting up a new pod before judging what it may reach
    for target in targets:
        if target.startswith("dns+"):
            url = urlsplit(target)
            p = {"kind": f"dns-{url.scheme[4:]}", "ip": url.hostname, "port": url.port, "name": url.path.strip("/")}
        else:
            host, port = target.rsplit(":", 1)
            p = {"kind": "connect", "ip": host, "port": int(port)}
        try:
            print(target, "open", *attempt(p).split(), flush=True)
        except OSError as err:
            print(target, "blocked", type(err).__name__, flush=True)
        except (IndexError, struct.error) as err:
            print(target, "garbled", type(err).__name__, flush=True)


def probe(probes):
    results = {}

    def run(p):
        result, detail = probe_one(p)
        results[p["id"]] = {"result": result, "detail": detail}

    threads = [threading.Thread(target=run, args=(p,)) for p in probes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(json.dumps(results))


if __name__ == "__main__":
    if sys.argv[1] == "check":
        check(sys.argv[2:])
    else:
        with open(sys.argv[2]) as f:
            {"serve": serve, "probe": probe}[sys.argv[1]](json.load(f))
