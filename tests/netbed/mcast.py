#!/usr/bin/env python3
"""mcast.py - plain UDP multicast traffic for checking the test bed.

  mcast.py send GROUP PORT COUNT SIZE PPS     send COUNT datagrams of SIZE bytes
  mcast.py recv GROUP PORT SECONDS            count what arrives; prints N BYTES
"""
import socket
import struct
import sys
import time


def send(group, port, count, size, pps):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
    gap = 1.0 / float(pps)
    t = time.monotonic()
    for i in range(int(count)):
        s.sendto(struct.pack("<I", i) + b"x" * (int(size) - 4), (group, int(port)))
        t += gap
        d = t - time.monotonic()
        if d > 0:
            time.sleep(d)
    print(count)


def recv(group, port, seconds):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.bind(("", int(port)))
    mreq = struct.pack("4s4s", socket.inet_aton(group), socket.inet_aton("0.0.0.0"))
    s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
    end = time.monotonic() + float(seconds)
    n = nbytes = 0
    seen = set()
    while True:
        left = end - time.monotonic()
        if left <= 0:
            break
        s.settimeout(left)
        try:
            b = s.recv(65536)
        except socket.timeout:
            break
        seq = struct.unpack_from("<I", b)[0]
        if seq not in seen:
            seen.add(seq)
            n += 1
            nbytes += len(b)
    print(n, nbytes, flush=True)


if __name__ == "__main__":
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "send" and len(sys.argv) == 7:
        send(*sys.argv[2:])
    elif cmd == "recv" and len(sys.argv) == 5:
        recv(*sys.argv[2:])
    else:
        print(__doc__)
        sys.exit(2)
