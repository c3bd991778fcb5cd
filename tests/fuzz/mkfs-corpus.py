#!/usr/bin/env python3
"""Write tests/fuzz/fs-corpus/: real filesystems made by their own mkfs,
each as a PFZ1 input for fuzz_fs.c (a sparse partition: its non-zero byte
ranges as runs).  Needs root only for the dirty XFS log (a mount).

    mkfs-corpus.py OUTDIR
"""
import os
import struct
import subprocess
import sys
import tempfile

HANDLERS = {"xfs": 0, "vfat": 1, "swap": 2, "exfat": 3, "btrfs": 4, "f2fs": 5, "lvm": 9}
ENV = dict(os.environ, LC_ALL="C")


def runs(path):
    """Non-zero byte ranges of path, merged across gaps under 32 bytes."""
    out = []
    data = open(path, "rb").read()
    i, n = 0, len(data)
    while i < n:
        # skip zeros quickly, 4 KiB at a time
        if data[i:i + 4096] == bytes(min(4096, n - i)):
            i += 4096
            continue
        while i < n and data[i] == 0:
            i += 1
        start = i
        last = i
        while i < n and i - last < 32 and i - start < 65535:
            if data[i]:
                last = i
            i += 1
        out.append((start, data[start:last + 1]))
        i = last + 1
    return out


def write(outdir, name, kind, path):
    size = os.path.getsize(path)
    b = bytearray(b"PFZ1" + bytes([HANDLERS[kind]]) + struct.pack("<I", size // 4096))
    for off, chunk in runs(path):
        b += struct.pack("<IH", off, len(chunk)) + chunk
    with open(os.path.join(outdir, name), "wb") as f:
        f.write(b)
    print("%s: %d bytes from a %d MiB %s" % (name, len(b), size >> 20, kind))


def mkfs(tmp, size, *cmd):
    p = os.path.join(tmp, "fs")
    if os.path.exists(p):
        os.remove(p)
    with open(p, "wb") as f:
        f.truncate(size)
    subprocess.run(list(cmd) + [p], check=True, env=ENV, capture_output=True)
    return p


def proto(tmp):
    """A small tree as an mkfs.xfs prototype file."""
    d = os.path.join(tmp, "tree")
    os.makedirs(os.path.join(d, "sub", "deeper"), exist_ok=True)
    for i in range(40):
        with open(os.path.join(d, "sub" if i % 2 else "", "f%02d" % i), "wb") as f:
            f.write(bytes([i]) * (i * 97))
    with open(os.path.join(d, "sub", "deeper", "big"), "wb") as f:
        f.write(b"x" * 20000)
    p = os.path.join(tmp, "proto")
    here = os.path.dirname(os.path.abspath(__file__))
    with open(p, "w") as f:
        subprocess.run([sys.executable, os.path.join(here, "..", "fixtures", "xfsproto.py"), d],
                       stdout=f, check=True, stderr=subprocess.DEVNULL)
    return p


def lvm_pv(tmp):
    """A PV with a VG of three LVs (one of two segments), as fs_lvm.sh
    makes them: vgcfgrestore, since LVs cannot be created without
    device-mapper."""
    p = os.path.join(tmp, "pv")
    with open(p, "wb") as f:
        f.truncate(64 << 20)
    l = subprocess.check_output(["losetup", "-f", "--show", p], text=True).strip()
    c = ["--config", "devices { use_devicesfile = 0 } backup { backup = 0 archive = 0 }",
         "--devices", l]
    try:
        subprocess.run(["pvcreate", "-q"] + c + [l], check=True, capture_output=True)
        subprocess.run(["vgcreate", "-q", "-s", "1m"] + c + ["corpusvg", l], check=True,
                       capture_output=True)
        m = os.path.join(tmp, "vg.txt")
        subprocess.run(["vgcfgbackup"] + c + ["-f", m, "corpusvg"], check=True, capture_output=True)
        segs = [("a", [(0, 20)]), ("b", [(20, 4), (30, 4)]), ("c", [(40, 8)])]
        body = ""
        for i, (name, ss) in enumerate(segs):
            body += ('%s {\nid = "corpus-0000-0000-0000-0000-0000-%06d"\n'
                     'status = ["READ", "WRITE", "VISIBLE"]\nsegment_count = %d\n' % (name, i, len(ss)))
            at = 0
            for k, (pe, n) in enumerate(ss):
                body += ('segment%d {\nstart_extent = %d\nextent_count = %d\ntype = "striped"\n'
                         'stripe_count = 1\nstripes = ["pv0", %d]\n}\n' % (k + 1, at, n, pe))
                at += n
            body += "}\n"
        s = open(m).read()
        i = s.rindex("}")
        open(m, "w").write(s[:i] + "logical_volumes {\n" + body + "}\n}\n")
        subprocess.run(["vgcfgrestore", "--force"] + c + ["-f", m, "corpusvg"], check=True,
                       capture_output=True)
    finally:
        subprocess.run(["losetup", "-d", l])
    return p


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        mb = 1 << 20
        write(out, "ok-xfs-v5-empty.pfz", "xfs", mkfs(tmp, 320 * mb, "mkfs.xfs", "-q", "-f"))
        pr = proto(tmp)
        write(out, "ok-xfs-v5-files.pfz", "xfs",
              mkfs(tmp, 320 * mb, "mkfs.xfs", "-q", "-f", "-p", pr, "-i", "size=1024"))
        write(out, "ok-xfs-v4-files.pfz", "xfs",
              mkfs(tmp, 320 * mb, "mkfs.xfs", "-q", "-f", "-m", "crc=0", "-b", "size=1024",
                   "-p", pr))
        write(out, "ok-vfat-fat12.pfz", "vfat", mkfs(tmp, 4 * mb, "mkfs.vfat", "-F", "12"))
        write(out, "ok-vfat-fat16.pfz", "vfat", mkfs(tmp, 64 * mb, "mkfs.vfat", "-F", "16"))
        write(out, "ok-vfat-fat32.pfz", "vfat", mkfs(tmp, 300 * mb, "mkfs.vfat", "-F", "32"))
        write(out, "ok-swap.pfz", "swap", mkfs(tmp, 16 * mb, "mkswap"))
        write(out, "ok-exfat.pfz", "exfat", mkfs(tmp, 64 * mb, "mkfs.exfat"))
        write(out, "ok-exfat-4k.pfz", "exfat", mkfs(tmp, 40 * mb, "mkfs.exfat", "-c", "4K"))
        tree = os.path.join(tmp, "tree")
        write(out, "ok-btrfs-empty.pfz", "btrfs", mkfs(tmp, 160 * mb, "mkfs.btrfs", "-q"))
        p = mkfs(tmp, 160 * mb, "mkfs.btrfs", "-q", "-r", tree)
        write(out, "ok-btrfs-files.pfz", "btrfs", p)
        with open(p, "r+b") as f:  # a log tree root: writes not yet committed
            f.seek(0x10000 + 0x60)
            f.write(struct.pack("<Q", 0x1d00000))
        write(out, "bad-btrfs-log-tree.pfz", "btrfs", p)
        write(out, "ok-f2fs-empty.pfz", "f2fs", mkfs(tmp, 128 * mb, "mkfs.f2fs", "-q", "-f"))
        p = mkfs(tmp, 128 * mb, "mkfs.f2fs", "-q", "-f")
        subprocess.run(["sload.f2fs", "-f", tree, p], check=True, capture_output=True)
        write(out, "ok-f2fs-files.pfz", "f2fs", p)
        if os.geteuid() == 0:
            write(out, "ok-lvm-pv.pfz", "lvm", lvm_pv(tmp))
            p = mkfs(tmp, 320 * mb, "mkfs.xfs", "-q", "-f")
            m = os.path.join(tmp, "m")
            os.makedirs(m)
            subprocess.run(["mount", "-o", "loop", p, m], check=True)
            try:
                os.makedirs(os.path.join(m, "a", "b"))
                subprocess.run(["xfs_io", "-x", "-c", "shutdown -f", m], check=True)
            finally:
                subprocess.run(["umount", m], check=True)
            write(out, "bad-xfs-dirty-log.pfz", "xfs", p)


if __name__ == "__main__":
    main()
