#!/usr/bin/env python3
"""mkproto-corpus.py - write the seed corpus of fuzz_proto (tests/fuzz/proto-corpus/).

Every file is a byte stream of protocol frames as one peer would send it
(man/img-protocol.7).  fuzz_proto's replay (the meson test
fuzz_proto_corpus) requires:

  ok-*.bin   every frame decodes, every known attribute has a well-formed
             value, every message carries its required attributes, and the
             stream ends on a frame boundary;
  bad-*.bin  refused somewhere: a header, an attribute list, a value, a
             missing attribute, or a stream cut short.

Standard library only.  Regenerate with:

  python3 tests/fuzz/mkproto-corpus.py            # writes next to itself
  python3 tests/fuzz/mkproto-corpus.py DIR        # writes into DIR

The output is deterministic (fixed nonces and key), so regenerating leaves
an unchanged corpus unchanged.
"""
import hashlib
import hmac
import os
import struct
import sys

# Message types and attribute tags: the wire's numbers (proto/proto.h).
HELLO, WELCOME, AUTH, STATUS, PUT, GET, DATA, END = 1, 2, 3, 4, 5, 6, 7, 8
ABORT, RESULT, STATS, AUTO, WORK, REPORT, WORKSET = 9, 10, 11, 12, 13, 14, 15
PING, PONG, BYE, SESSION_M = 16, 17, 18, 19

VERSION, CAPS, CLIENT, SERVER, NONCE, CNONCE, PROOF, CODE = 1, 2, 3, 4, 5, 6, 7, 8
TEXT, PATH, BYTES, MAC, SERIAL, PRODUCT, HOSTNAME, DISK = 9, 10, 11, 12, 13, 14, 15, 16
MEM, HWINFO, ACTION, ARG, SESSION, TOKEN, AUTOF, LASTIMAGE = 17, 18, 19, 20, 21, 22, 23, 24
OFFSET, CLIENTS, TIMEOUT, THROTTLE, IFACE = 25, 26, 27, 28, 29

MAX_PAYLOAD = 1 << 20
MAX_CTRL = 65536

# Fixed "random" values so that the corpus is reproducible.
KEY = b"corpus-site-key-0123456789"
SNONCE = bytes(range(0x40, 0x60))          # the server's, 32 bytes
CNONCE_V = bytes(range(0xa0, 0xc0))        # the client's, 32 bytes
UPTOKEN = bytes(range(0x10, 0x30))


def header(length, mtype, flags=0):
    return struct.pack("<IHH", length, mtype, flags)


def frame(mtype, payload=b"", flags=0):
    return header(len(payload), mtype, flags) + payload


def attr(tag, value):
    return struct.pack("<HH", tag, len(value)) + value


def u32(tag, v):
    return attr(tag, struct.pack("<I", v))


def u64(tag, v):
    return attr(tag, struct.pack("<Q", v))


def s(tag, text):
    return attr(tag, text.encode())


def msg(mtype, *attrs, flags=0):
    return frame(mtype, b"".join(attrs), flags)


def proof(label, a, b):
    return hmac.new(KEY, label + a + b, hashlib.sha256).digest()


def data_bytes(n, seed):
    """Image-like bytes, NULs included (DATA is not an attribute list)."""
    out = bytearray()
    x = seed
    while len(out) < n:
        x = (x * 1103515245 + 12345) & 0x7fffffff
        out.append(0 if x % 5 == 0 else (x >> 16) & 0xff)
    return bytes(out)


HELLO_M = msg(HELLO, u32(VERSION, 1), u32(CAPS, 7), s(CLIENT, "ws-017"))
WELCOME_M = msg(WELCOME, u32(VERSION, 1), u32(CAPS, 7), s(SERVER, "imgsrv"),
                attr(NONCE, SNONCE))
AUTH_M = msg(AUTH, attr(CNONCE, CNONCE_V),
             attr(PROOF, proof(b"img-auth-v1 client", SNONCE, CNONCE_V)))
AUTH_OK_M = msg(STATUS, u32(CODE, 0), s(TEXT, "ok"),
                attr(PROOF, proof(b"img-auth-v1 server", CNONCE_V, SNONCE)))
PUT_M = msg(PUT, s(PATH, "lab/win10.img"))
GET_M = msg(GET, s(PATH, "lab/win10.img"), s(MAC, "52:54:00:12:34:56"))
DATA1 = data_bytes(3000, 1)
DATA2 = data_bytes(1500, 2)


def corpus():
    c = {}

    # ---- valid single messages, one per type ----
    c["ok-hello"] = HELLO_M
    c["ok-welcome"] = WELCOME_M
    c["ok-auth"] = AUTH_M
    c["ok-status-auth"] = AUTH_OK_M
    c["ok-status-code-only"] = msg(STATUS, u32(CODE, 0))
    c["ok-status-error"] = msg(STATUS, u32(CODE, 7),
                               s(TEXT, "bad image path: ../etc/passwd"))
    c["ok-status-bytes"] = msg(STATUS, u32(CODE, 0), s(TEXT, ""),
                               u64(BYTES, 0x0123456789abcdef))
    c["ok-put"] = msg(PUT, s(PATH, "lab/win10.img"), u32(AUTOF, 1),
                      attr(TOKEN, UPTOKEN), s(MAC, "52:54:00:12:34:56"))
    c["ok-get"] = GET_M
    c["ok-data"] = frame(DATA, DATA1)
    c["ok-data-empty"] = frame(DATA)
    c["ok-end"] = msg(END, u64(BYTES, 4500))
    c["ok-abort"] = msg(ABORT, u32(CODE, 15), s(TEXT, "capture failed"))
    c["ok-result"] = msg(RESULT, u32(CODE, 0), s(TEXT, "restored"))
    c["ok-stats"] = frame(STATS)
    c["ok-auto"] = msg(AUTO, s(MAC, "52:54:00:12:34:56"),
                       s(MAC, "52:54:00:12:34:57"), s(MAC, "02:00:00:00:00:01"),
                       s(SERIAL, "CZC1234XYZ"), s(PRODUCT, "HP EliteDesk 800 G4"),
                       s(HOSTNAME, "lab-a-07"), u64(DISK, 256060514304),
                       u64(MEM, 17179869184),
                       s(HWINFO, "disk /dev/sda 256 GB\nnic eth0 52:54:00:12:34:56\n"),
                       s(LASTIMAGE, "lab/win10.img"))
    c["ok-work-restore"] = msg(WORK, s(ACTION, "restore"), s(PATH, "lab/win10.img"),
                               s(HOSTNAME, "lab-a-07"))
    c["ok-work-make"] = msg(WORK, s(ACTION, "make"), s(PATH, "lab/new.img"),
                            attr(TOKEN, UPTOKEN))
    c["ok-work-referral"] = msg(WORK, s(ACTION, "restore"), s(PATH, "lab/win10.img"),
                                s(SERVER, "198.18.0.2:998"))
    c["ok-work-session"] = msg(WORK, s(ACTION, "session"), s(SESSION, "room-b"))
    c["ok-report"] = msg(REPORT, s(ACTION, "restore"), s(PATH, "lab/win10.img"),
                         u32(CODE, 0), s(TEXT, "done"), u64(BYTES, 123456789),
                         s(MAC, "52:54:00:12:34:56"))
    c["ok-workset"] = msg(WORKSET, s(MAC, "52:54:00:12:34:56"), s(ACTION, "restore"),
                          s(ARG, "lab/win10.img"))
    c["ok-ping-pong-bye"] = frame(PING) + frame(PONG) + frame(BYE)
    c["ok-get-offset"] = msg(GET, s(PATH, "lab/win10.img"), u64(OFFSET, 1 << 33))
    c["ok-status-get-offset"] = msg(STATUS, u32(CODE, 0), u64(BYTES, 4096),
                                    u64(OFFSET, 1 << 33))
    c["ok-session-start"] = msg(SESSION_M, s(ACTION, "start"), s(SESSION, "room-b"),
                                s(PATH, "lab/win10.img"), u32(CLIENTS, 24),
                                u32(TIMEOUT, 300000), u32(THROTTLE, 2),
                                s(IFACE, "eth0"))
    c["ok-session-list"] = msg(SESSION_M, s(ACTION, "list"))
    c["ok-session-delete"] = msg(SESSION_M, s(ACTION, "delete"), s(SESSION, "room-b"))
    c["ok-status-session-list"] = msg(
        STATUS, u32(CODE, 0),
        s(TEXT, "session  state  image  group  clients  started\n"
                "room-b  done: 2 done, 0 failed, 1 dropped  lab/win10.img  "
                "231.12.34.56  2  2026-11-23 20:21:06\n"))

    # ---- valid edge cases ----
    # Unknown tags (0, 250, 999) are ignored; a repeated non-list tag: the
    # first counts.
    c["ok-unknown-tags"] = msg(HELLO, attr(0, b"\0\0"), u32(VERSION, 1),
                               attr(250, b"later"), attr(999, b""), u32(VERSION, 7))
    c["ok-64-attrs"] = msg(AUTO, *[s(MAC, "02:00:00:00:00:%02x" % i)
                                   for i in range(64)])
    # A control message of exactly 65536 bytes: version (8) + one unknown
    # attribute of 4 + 65524.
    c["ok-ctrl-max"] = msg(HELLO, u32(VERSION, 1), attr(30, b"x" * (MAX_CTRL - 12)))
    c["ok-path-max"] = msg(GET, s(PATH, "p" * 1024))

    # ---- valid conversations (one direction each) ----
    c["ok-seq-upload"] = (HELLO_M + AUTH_M + PUT_M + frame(DATA, DATA1)
                          + frame(PING) + frame(DATA, DATA2)
                          + msg(END, u64(BYTES, len(DATA1) + len(DATA2)))
                          + frame(BYE))
    c["ok-seq-download"] = (HELLO_M + GET_M
                            + msg(RESULT, u32(CODE, 0), s(TEXT, "restored"))
                            + frame(BYE))
    c["ok-seq-server-download"] = (WELCOME_M
                                   + msg(STATUS, u32(CODE, 0),
                                         u64(BYTES, len(DATA1) + len(DATA2)))
                                   + frame(DATA, DATA1) + frame(DATA, DATA2)
                                   + msg(END, u64(BYTES, len(DATA1) + len(DATA2))))
    c["ok-seq-auto"] = (HELLO_M + c["ok-auto"] + c["ok-report"] + frame(BYE))

    # ---- hostile: headers ----
    c["bad-len-over-1mib"] = header(MAX_PAYLOAD + 1, DATA) + DATA2[:64]
    c["bad-len-4gib"] = header(0xffffffff, HELLO)
    c["bad-ctrl-over-64k"] = header(MAX_CTRL + 1, HELLO) + u32(VERSION, 1)
    c["bad-reserved-flags"] = msg(HELLO, u32(VERSION, 1), flags=0x0001)
    c["bad-reserved-flags-high"] = frame(DATA, b"abc", flags=0x8000)
    c["bad-type-0"] = frame(0)
    c["bad-type-99"] = msg(99, u32(VERSION, 1))
    c["bad-type-20"] = frame(20)            # one past SESSION

    # ---- hostile: attribute lists ----
    c["bad-attr-past-payload"] = frame(PUT, struct.pack("<HH", PATH, 10) + b"abcd")
    # One byte past the end: catches a bounds check that forgets the
    # attribute's own 4-byte header.
    c["bad-attr-one-past"] = frame(PUT, struct.pack("<HH", PATH, 5) + b"abcd")
    c["bad-attr-len-ffff"] = frame(PUT, u32(AUTOF, 1) + struct.pack("<HH", PATH, 0xffff))
    c["bad-attr-header-cut"] = frame(HELLO, u32(VERSION, 1) + b"\x03\x00")
    c["bad-attr-header-1byte"] = frame(STATUS, b"\x08")
    c["bad-65-attrs"] = msg(AUTO, *[s(MAC, "02:00:00:00:00:%02x" % i)
                                    for i in range(65)])

    # ---- hostile: values ----
    c["bad-string-nul"] = msg(HELLO, u32(VERSION, 1), attr(CLIENT, b"ws\x00" + b"17"))
    c["bad-path-nul"] = msg(PUT, attr(PATH, b"lab/a.img\0../../etc/passwd"))
    c["bad-u32-3-bytes"] = msg(HELLO, attr(VERSION, b"\x01\x00\x00"))
    c["bad-u64-4-bytes"] = msg(END, attr(BYTES, b"\x00\x10\x00\x00"))
    c["bad-nonce-31-bytes"] = msg(WELCOME, u32(VERSION, 1), attr(NONCE, SNONCE[:31]))
    c["bad-path-too-long"] = msg(GET, s(PATH, "p" * 1025))
    c["bad-mac-nul-second"] = msg(AUTO, s(MAC, "52:54:00:12:34:56"),
                                  attr(MAC, b"52:54\0"))
    c["bad-get-offset-4-bytes"] = msg(GET, s(PATH, "lab/win10.img"),
                                      attr(OFFSET, b"\x00\x10\x00\x00"))
    c["bad-session-clients-2-bytes"] = msg(SESSION_M, s(ACTION, "start"),
                                           s(SESSION, "room-b"), attr(CLIENTS, b"\x02\x00"))
    c["bad-session-iface-too-long"] = msg(SESSION_M, s(ACTION, "start"),
                                          s(IFACE, "i" * 32))

    # ---- hostile: missing attributes ----
    c["bad-empty-payload"] = frame(HELLO)   # HELLO without version
    c["bad-put-no-path"] = msg(PUT, u32(AUTOF, 1))
    c["bad-session-no-action"] = msg(SESSION_M, s(SESSION, "room-b"))

    # ---- hostile: streams cut short ----
    c["bad-frame-cut"] = HELLO_M[:len(HELLO_M) - 5]
    c["bad-data-cut"] = frame(DATA, DATA1)[:1000]
    c["bad-header-cut"] = HELLO_M + header(8, END)[:5]
    c["bad-seq-then-type-99"] = HELLO_M + PUT_M + msg(99, s(PATH, "x"))
    c["bad-seq-then-flags"] = HELLO_M + frame(DATA, DATA2) + frame(END, u64(BYTES, 1), flags=2)
    return c


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "proto-corpus")
    os.makedirs(out, exist_ok=True)
    c = corpus()
    for name, blob in sorted(c.items()):
        assert name.startswith(("ok-", "bad-")), name
        with open(os.path.join(out, name + ".bin"), "wb") as f:
            f.write(blob)
    print("%d files in %s (%d ok, %d bad)" % (
        len(c), out, sum(n.startswith("ok-") for n in c),
        sum(n.startswith("bad-") for n in c)))


if __name__ == "__main__":
    main()
