#!/usr/bin/python3
"""rooms.py - the room rules of HACKING.md, checked so they cannot rot.

Usage: rooms.py SOURCE_ROOT [BUILD_ROOT]

1. Includes: every "..." include of every C file must be a header of the
   file's own room, a header of base/, or a public header of a room the
   file may use (the table ROOMS below).  base/ includes nothing else.
   Unit tests (tests/unit) are white-box and may include any engine or
   server header; no file outside src/ may include src/internal.h.
2. No include circle between headers.
3. With BUILD_ROOT: no call circle between files.  From the object files'
   symbol tables (nm): file A uses file B when A calls or reads a symbol B
   defines; a circle (A uses B, B uses A, directly or around) means two
   files that cannot be understood apart, and fails.

Prints one line per violation and exits 1 if there is any, 0 otherwise.
"""
import collections
import os
import re
import subprocess
import sys

# room -> (headers others may include, rooms whose public headers it may use)
PUBLIC = {
    'base': None,                      # every header of base/ is public
    'src': {'img.h'},
    'proto': {'proto.h', 'mcast.h'},
    'partfmt': {'pf.h'},
    'ui': set(),
    'server': set(),
}
USES = {
    'base': set(),
    'partfmt': {'base', 'src'},         # src: img.h, the public types only
    'proto': {'base', 'src'},
    'src': {'base', 'partfmt', 'proto'},
    'ui': {'base', 'src'},
    'server': {'base', 'src', 'proto'},
    'tests': {'base', 'src', 'partfmt', 'proto'},
}
WHITEBOX = ('tests/unit/',)
INC = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def c_files(top):
    for room in list(USES):
        for d, _, names in os.walk(os.path.join(top, room)):
            for n in names:
                if n.endswith(('.c', '.h')):
                    yield os.path.relpath(os.path.join(d, n), top)


def resolve(top, src, name):
    """The tree-relative path an include names, or None for a system one."""
    for base in (os.path.dirname(src), '.', 'src', 'partfmt', 'proto', 'tests', 'server'):
        p = os.path.normpath(os.path.join(base, name))
        if os.path.exists(os.path.join(top, p)):
            return p
    return None


def room_of(path):
    return path.split('/')[0]


def allowed(src, target):
    me, there = room_of(src), room_of(target)
    if there == me:
        return True
    if src.startswith(WHITEBOX) and there in ('src', 'partfmt', 'proto', 'server', 'base'):
        return True
    if target == 'src/internal.h':
        return False
    if there not in USES.get(me, set()):
        return False
    pub = PUBLIC.get(there)
    return pub is None or os.path.basename(target) in pub


def check_includes(top):
    bad = []
    graph = collections.defaultdict(set)
    for f in sorted(c_files(top)):
        text = open(os.path.join(top, f), encoding='utf-8', errors='replace').read()
        for name in INC.findall(text):
            t = resolve(top, f, name)
            if t is None:
                bad.append(f'{f}: includes "{name}", which is no file of the tree')
                continue
            if not allowed(f, t):
                bad.append(f'{f}: includes {t}, which room {room_of(f)}/ may not use')
            if f.endswith('.h'):
                graph[f].add(t)
    bad += [f'include circle: {" -> ".join(c)}' for c in circles(graph)]
    return bad


def circles(graph):
    """Strongly connected components of more than one node (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def check_calls(build):
    """Call circles between the object files of the programs and libraries."""
    objs = []
    for d, _, names in os.walk(build):
        rel = os.path.relpath(d, build)
        if rel.startswith(('tests', 'meson-')):
            continue
        objs += [os.path.join(d, n) for n in names if n.endswith('.o')]
    if not objs:
        return [f'{build}: no object files (build first)']
    defs, uses = {}, collections.defaultdict(set)
    for o in objs:
        out = subprocess.run(['nm', o], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            p = line.split()
            if len(p) == 3 and p[1] in 'TDBRC':
                defs[(os.path.dirname(o), p[2])] = o
            elif len(p) == 2 and p[0] == 'U':
                uses[o].add(p[1])
    graph = collections.defaultdict(set)
    for o, syms in uses.items():
        for s in syms:
            t = defs.get((os.path.dirname(o), s))
            if t and t != o:
                graph[o].add(t)

    def name(o):   # libimg.a.p/src_make.c.o -> src/make.c
        b = os.path.basename(o)[:-2]
        return b.replace('_', '/', 1)
    return [f'call circle: {" <-> ".join(name(o) for o in c)}' for c in circles(graph)]


def main():
    if len(sys.argv) not in (2, 3):
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    bad = check_includes(sys.argv[1])
    if len(sys.argv) == 3:
        bad += check_calls(sys.argv[2])
    for b in bad:
        print(b)
    print(f'rooms: {len(bad)} violation(s)')
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main())
