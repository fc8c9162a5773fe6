"""What a hostile neighbour on a shared node can get of another user's session.

Run as that neighbour inside a Slurm job on the victim's node, with a Python that has pyzmq (a release's):

    python - VICTIM SECRET SECONDS < neighbour_probe.py

It prints one JSON object:
- ``tcp``: every TCP port listening on the node;
- ``heard``: messages carrying SECRET received by subscribing (ZeroMQ SUB) or plainly reading on any of them;
- ``unix_connected``: Unix sockets of VICTIM's that accepted a connection;
- ``opened``: files of VICTIM's (under /tmp, /var/tmp, /dev/shm, and every path VICTIM's processes name
  on their command lines) that could be opened for reading, and VICTIM's processes' environments read.
A private session leaves ``heard``, ``unix_connected`` and ``opened`` empty.
"""

import json
import os
import pwd
import re
import socket
import sys
import time

import zmq

victim, secret, seconds = sys.argv[1], sys.argv[2].encode(), float(sys.argv[3])
uid = pwd.getpwnam(victim).pw_uid


def listening_tcp() -> list[tuple[str, int]]:
    found = set()
    for path, family in (("/proc/net/tcp", "4"), ("/proc/net/tcp6", "6")):
        try:
            lines = open(path).read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] != "0A":  # LISTEN
                continue
            port = int(fields[1].rsplit(":", 1)[1], 16)
            found.add(("127.0.0.1" if family == "4" else "::1", port))
    return sorted(found, key=lambda a: a[1])


def listen_zmq(addresses, seconds) -> list[str]:
    context = zmq.Context.instance()
    subs = []
    for host, port in addresses:
        s = context.socket(zmq.SUB)
        s.setsockopt(zmq.SUBSCRIBE, b"")
        s.setsockopt(zmq.LINGER, 0)
        s.connect(f"tcp://127.0.0.1:{port}")
        subs.append((port, s))
    poller = zmq.Poller()
    for _, s in subs:
        poller.register(s, zmq.POLLIN)
    heard, deadline = [], time.monotonic() + seconds
    while time.monotonic() < deadline:
        for s, _ in poller.poll(200):
            frames = s.recv_multipart()
            text = b"".join(frames)
            if secret in text:
                port = next(p for p, sub in subs if sub is s)
                heard.append(f"tcp {port} (zmq SUB): {text[text.find(secret):][:40].decode(errors='replace')}")
    return heard


def read_plain(addresses) -> list[str]:
    heard = []
    for host, port in addresses:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as c:
                c.settimeout(1)
                data = c.recv(4096)
        except OSError:
            continue
        if secret in data:
            heard.append(f"tcp {port} (plain read)")
    return heard


def victims_pids() -> list[int]:
    pids = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                if os.stat(f"/proc/{d}").st_uid == uid:
                    pids.append(int(d))
            except OSError:
                pass
    return pids


def unix_sockets() -> list[str]:
    connected = []
    try:
        lines = open("/proc/net/unix").read().splitlines()[1:]
    except OSError:
        return connected
    for line in lines:
        fields = line.split()
        if len(fields) < 8 or not fields[7].startswith("/"):
            continue
        path = fields[7]
        try:
            if os.stat(path).st_uid != uid:
                continue
        except OSError:
            continue  # a socket we cannot even see: private
        for kind in (socket.SOCK_STREAM, socket.SOCK_SEQPACKET):
            try:
                with socket.socket(socket.AF_UNIX, kind) as c:
                    c.settimeout(1)
                    c.connect(path)
                    connected.append(path)
                    break
            except OSError:
                pass
    return connected


def opened_files(pids) -> list[str]:
    candidates = set()
    for top in ("/tmp", "/var/tmp", "/dev/shm"):
        for root, dirs, files in os.walk(top, onerror=lambda e: None):
            for name in dirs + files:
                path = os.path.join(root, name)
                try:
                    if os.lstat(path).st_uid == uid:
                        candidates.add(path)
                except OSError:
                    pass
    for pid in pids:
        try:
            argv = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
        except OSError:
            continue
        for arg in argv:
            for m in re.finditer(r"(/[^\s=:,]+)", arg.decode(errors="replace")):
                candidates.add(m.group(1))
    opened = []
    for path in sorted(candidates):
        try:
            if os.path.isdir(path):
                os.listdir(path)
            elif os.path.isfile(path):
                if os.stat(path).st_uid != uid:
                    continue  # a shared file a process names (a release's python), not the victim's
                open(path, "rb").read(1)
            else:
                continue
            opened.append(path)
        except OSError:
            pass
    for pid in pids:
        try:
            open(f"/proc/{pid}/environ", "rb").read(1)
            opened.append(f"/proc/{pid}/environ")
        except OSError:
            pass
    return opened


tcp = listening_tcp()
pids = victims_pids()
report = {
    "tcp": [port for _, port in tcp],
    "heard": listen_zmq(tcp, seconds) + read_plain(tcp),
    "unix_connected": unix_sockets(),
    "opened": opened_files(pids),
    "victim_processes": len(pids),
}
print(json.dumps(report))
