#!/usr/bin/env python3
"""protoclient.py - an independent client of the imgserv protocol
(man/img-protocol.7), written from the spec, for tests that need to do what
img never does: send malformed or oversized frames, stop half-way through an
upload, hold a connection open, download many images at once.

Usage: protoclient.py HOST:PORT COMMAND [ARGS...]; prints what happened,
exits 0 when the server answered as the command expects (see each command).
"""
import hashlib
import hmac
import os
import socket
import struct
import sys
import threading
import time

HELLO, WELCOME, AUTH, STATUS, PUT, GET, DATA, END, ABORT, RESULT, STATS, \
    AUTOREQ, WORK, REPORT, WORKSET, PING, PONG, BYE = range(1, 19)
T_VERSION, T_CAPS, T_CLIENT, T_SERVER, T_NONCE, T_CNONCE, T_PROOF, T_CODE, \
    T_TEXT, T_PATH, T_BYTES, T_MAC = range(1, 13)


def attr(tag, val):
    if isinstance(val, int):
        val = struct.pack("<I", val)
    elif isinstance(val, str):
        val = val.encode()
    return struct.pack("<HH", tag, len(val)) + val


def frame(typ, payload=b"", flags=0, length=None):
    n = len(payload) if length is None else length
    return struct.pack("<IHH", n, typ, flags) + payload


class Conn:
    def __init__(self, addr, timeout=20):
        host, port = addr.rsplit(":", 1)
        self.s = socket.create_connection((host, int(port)), timeout=timeout)
        self.nonce = None

    def send(self, data):
        self.s.sendall(data)

    def recv_exact(self, n):
        b = b""
        while len(b) < n:
            c = self.s.recv(n - len(b))
            if not c:
                raise EOFError("closed after %d of %d bytes" % (len(b), n))
            b += c
        return b

    def recv(self):
        n, typ, flags = struct.unpack("<IHH", self.recv_exact(8))
        payload = self.recv_exact(n)
        attrs = {}
        if typ != DATA:
            off = 0
            while off + 4 <= len(payload):
                tag, ln = struct.unpack_from("<HH", payload, off)
                attrs.setdefault(tag, payload[off + 4:off + 4 + ln])
                off += 4 + ln
        return typ, attrs, payload

    def status(self):
        typ, a, _ = self.recv()
        if typ != STATUS:
            raise RuntimeError("expected STATUS, got type %d" % typ)
        code = struct.unpack("<I", a[T_CODE])[0]
        return code, a.get(T_TEXT, b"").decode(errors="replace"), a

    def hello(self):
        self.send(frame(HELLO, attr(T_VERSION, 1) + attr(T_CLIENT, "protoclient")))
        typ, a, _ = self.recv()
        if typ != WELCOME:
            raise RuntimeError("expected WELCOME, got %d" % typ)
        self.nonce = a[T_NONCE]

    def auth(self, keyfile):
        key = open(keyfile, "rb").read().rstrip(b"\r\n")
        cn = os.urandom(32)
        proof = hmac.new(key, b"img-auth-v1 client" + self.nonce + cn,
                         hashlib.sha256).digest()
        self.send(frame(AUTH, attr(T_CNONCE, cn) + attr(T_PROOF, proof)))
        return self.status()


def out(*a):
    print(*a, flush=True)


def start_put(addr, keyfile, path, timeout=20):
    """Connect, prove the key and start an upload to PATH; returns the
    connection, or None (after saying why) when the server refused."""
    c = Conn(addr, timeout=timeout)
    c.hello()
    code, text, _ = c.auth(keyfile)
    assert code == 0, text
    c.send(frame(PUT, attr(T_PATH, path)))
    code, text, _ = c.status()
    if code:
        out("PUT refused:", code, text)
        return None
    return c


def send_data(c, data, size):
    for i in range(0, len(data), size):
        c.send(frame(DATA, bytes(data[i:i + size])))


def cmd_put_partial(addr, keyfile, path, image, nbytes):
    """Upload the first NBYTES of IMAGE to PATH, then drop the connection.
    Exits 0 when the server had accepted the PUT."""
    c = start_put(addr, keyfile, path)
    if not c:
        return 1
    data = open(image, "rb").read()[:int(nbytes)]
    send_data(c, data, 65536)
    out("sent %d bytes, dropping the connection" % len(data))
    c.s.close()
    return 0


def cmd_put_hold(addr, keyfile, path, image, nbytes, seconds):
    """Upload the first NBYTES, then hold the connection SECONDS (a slow or
    stalled client), then drop it."""
    c = start_put(addr, keyfile, path, timeout=float(seconds) + 30)
    if not c:
        return 1
    send_data(c, open(image, "rb").read()[:int(nbytes)], 1 << 20)
    out("holding")
    time.sleep(float(seconds))
    c.s.close()
    return 0


def cmd_put_corrupt(addr, keyfile, path, image, offset):
    """Upload IMAGE with one byte at OFFSET flipped; expects the server to
    answer with a non-zero status.  Prints it; exits 0 if it is 11
    (corrupt)."""
    c = start_put(addr, keyfile, path)
    if not c:
        return 1
    data = bytearray(open(image, "rb").read())
    data[int(offset)] ^= 0x40
    try:
        send_data(c, data, 262144)
        c.send(frame(END, attr(T_BYTES, struct.pack("<Q", len(data)))))
    except OSError as e:
        out("send stopped:", e)
    code, text, _ = c.status()
    out("status", code, text)
    return 0 if code == 11 else 1


def expect_status(c, want):
    try:
        code, text, _ = c.status()
    except (EOFError, ConnectionError) as e:
        out("connection closed without a status:", e)
        return 1
    out("status", code, text)
    return 0 if code == int(want) else 1


def cmd_raw(addr, what, want):
    """Send a malformed first message; expect status WANT and a close."""
    c = Conn(addr)
    if what == "oversized":
        c.send(frame(HELLO, length=(1 << 20) + 1))
    elif what == "bigctrl":
        c.send(frame(HELLO, b"\0" * 70000))
    elif what == "flags":
        c.send(frame(HELLO, attr(T_VERSION, 1), flags=1))
    elif what == "notfirst":
        c.send(frame(GET, attr(T_PATH, "x")))
    elif what == "badattr":
        c.send(frame(HELLO, struct.pack("<HH", 1, 200) + b"\0\0\0\0"))
    elif what == "type99":
        c.send(frame(99, b""))
    elif what == "garbage":
        c.send(b"GET / HTTP/1.0\r\n\r\n")
    else:
        raise SystemExit("unknown raw case " + what)
    rc = expect_status(c, want)
    # the server must close the connection after the error
    try:
        c.s.settimeout(5)
        rest = c.s.recv(1)
        if rest:
            out("server kept talking after the error")
            rc = 1
    except OSError:
        pass
    return rc


def cmd_get(addr, path, want, keyfile=None):
    """GET PATH; expect status WANT (0: then read it all and print its
    SHA-256 and send RESULT ok)."""
    c = Conn(addr)
    c.hello()
    if keyfile and keyfile != "-":
        code, text, _ = c.auth(keyfile)
        assert code == 0, text
    c.send(frame(GET, attr(T_PATH, path)))
    code, text, a = c.status()
    out("status", code, text)
    if code != int(want):
        return 1
    if code:
        return 0
    h = hashlib.sha256()
    total = 0
    while True:
        typ, a, payload = c.recv()
        if typ == DATA:
            h.update(payload)
            total += len(payload)
        elif typ == END:
            break
        else:
            out("unexpected type", typ)
            return 1
    c.send(frame(RESULT, attr(T_CODE, 0)))
    c.status()
    out("sha256", h.hexdigest(), total)
    return 0


def cmd_many_get(addr, path, n, expect_sha):
    """N parallel GETs of PATH, all at once; each must deliver EXPECT_SHA."""
    n = int(n)
    results = [None] * n
    barrier = threading.Barrier(n)

    def one(i):
        try:
            c = Conn(addr, timeout=120)
            c.hello()
            barrier.wait(timeout=60)
            c.send(frame(GET, attr(T_PATH, path)))
            code, text, _ = c.status()
            if code:
                results[i] = "status %d %s" % (code, text)
                return
            h = hashlib.sha256()
            while True:
                typ, a, payload = c.recv()
                if typ == DATA:
                    h.update(payload)
                    time.sleep(0.001)   # stay in flight together
                elif typ == END:
                    break
            c.send(frame(RESULT, attr(T_CODE, 0)))
            c.status()
            results[i] = h.hexdigest()
        except Exception as e:  # noqa: BLE001 - report any failure
            results[i] = "error %r" % e

    ts = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    good = sum(1 for r in results if r == expect_sha)
    out("%d of %d transfers delivered the image" % (good, n))
    for r in results:
        if r != expect_sha:
            out("  bad:", r)
    return 0 if good == n else 1


def cmd_workset(addr, keyfile, mac, action, want):
    """WORKSET MAC ACTION (keyfile '-': no AUTH); expect status WANT."""
    c = Conn(addr)
    c.hello()
    if keyfile != "-":
        code, text, _ = c.auth(keyfile)
        out("auth", code, text)
        if code:   # a failed proof ends the conversation
            return 0 if code == int(want) else 1
    c.send(frame(WORKSET, attr(T_MAC, mac) + attr(19, action) + attr(20, "lab/x.img")))
    return expect_status(c, want)


def cmd_hold(addr, seconds):
    """Open a connection, say HELLO, then say nothing for SECONDS."""
    c = Conn(addr, timeout=float(seconds) + 30)
    c.hello()
    time.sleep(float(seconds))
    return 0


def main(argv):
    if len(argv) < 3:
        print(__doc__)
        return 2
    addr, cmd, args = argv[1], argv[2], argv[3:]
    f = globals().get("cmd_" + cmd.replace("-", "_"))
    if not f:
        print("unknown command", cmd)
        return 2
    return f(addr, *args)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
