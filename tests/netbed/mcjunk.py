#!/usr/bin/env python3
"""mcjunk.py GROUP SECONDS: a hostile node in a multicast session.

Joins GROUP (port 998), waits for the running master's ANNOUNCE to learn the
session id, the run and the master's control port, then for SECONDS sends
malformed and forged packets (man/img-protocol.7, MULTICAST SESSIONS) to
the group and to the master: random bytes, bad magic or version, reserved
flags, unknown types, every message type cut short, forged DATA with wrong
payloads for the session's run from the wrong address, STATUS and RESULT
for receiver ids that are not ours, JOINs in bulk.  Prints what it sent.
A correct master and receivers ignore all of it: the session completes
with identical disks.  Exit 0 when the announce was seen, 1 otherwise.
"""
import os
import random
import socket
import struct
import sys
import time

PORT = 998


def hdr(mtype, sid, run, seq=0, flags=0, magic=b"IMGM", version=1):
    return magic + struct.pack("<BBHIIQI", version, mtype, flags, sid, run, seq, 0)


def main():
    group, secs = sys.argv[1], float(sys.argv[2])
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    rx.bind((group, PORT))
    mreq = socket.inet_aton(group) + socket.inet_aton("0.0.0.0")
    rx.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
    rx.settimeout(0.5)
    end = time.time() + 60
    master = sid = run = None
    while time.time() < end:
        try:
            p, a = rx.recvfrom(2048)
        except socket.timeout:
            continue
        # a running session's announce (state 2): joins are then refused
        if len(p) >= 29 and p[:4] == b"IMGM" and p[5] == 1 and p[28] == 2:
            master, sid, run = a, *struct.unpack("<II", p[8:16])
            break
    if master is None:
        print("mcjunk: no announce seen")
        return 1
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tx.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
    rnd = random.Random(4)
    sent = 0
    stop = time.time() + secs
    while time.time() < stop:
        kinds = [
            os.urandom(rnd.randrange(0, 1500)),
            hdr(5, sid, run, rnd.randrange(0, 1 << 20), magic=b"IMGX") + os.urandom(100),
            hdr(5, sid, run, rnd.randrange(0, 1 << 20), version=9) + os.urandom(100),
            hdr(5, sid, run, rnd.randrange(0, 1 << 20), flags=1) + os.urandom(100),
            hdr(rnd.choice([0, 11, 200]), sid, run) + os.urandom(40),
            hdr(rnd.randrange(1, 11), sid, run)[: rnd.randrange(0, 28)],
            hdr(rnd.randrange(1, 11), sid, run) + os.urandom(rnd.randrange(0, 40)),
            # a forged announce: done, total 1, from the wrong address
            hdr(1, sid, run) + struct.pack("<BBHHHQQQ", 3, 0, 1, 998, 0, 1, 1, 1),
            # forged data for the session's run, from the wrong address
            hdr(5, sid, run, rnd.randrange(0, 4096)) + os.urandom(1444),
            # oversized data payload
            hdr(5, sid, run, 0) + os.urandom(1444 + 20),
            # status and result for receiver ids that are not ours
            hdr(6, sid, run) + struct.pack("<HHQQQQIIH", rnd.randrange(0, 300), 1,
                                           1 << 60, 1 << 61, 5, 5, 0, 0, 65535),
            hdr(8, sid, run) + struct.pack("<HiQ", rnd.randrange(0, 300), 0, 1) + b"\x05\x00forge",
            hdr(10, sid, run) + struct.pack("<H", rnd.randrange(0, 300)),
            hdr(2, sid, run) + struct.pack("<I", rnd.randrange(1, 1 << 32)) + b"\xff\xffjunk",
        ]
        for k in kinds:
            for dst in ((group, PORT), master):
                try:
                    tx.sendto(k, dst)
                    sent += 1
                except OSError:
                    pass
        time.sleep(0.002)
    print(f"mcjunk: {sent} hostile packets to {group} and {master[0]}:{master[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
