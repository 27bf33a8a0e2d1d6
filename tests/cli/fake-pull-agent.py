#!/usr/bin/env python3
"""A malicious agent for `ferry pull`, used as ssh_command.

It speaks the protocol well enough to be the source of a pull, and sends
what SCENARIO says: paths that escape the project, paths outside the pull
folders, symlink tricks, files nobody asked for, more bytes than announced.
Usage: fake-pull-agent.py SCENARIO OUTSIDE_DIR [ssh arguments ignored]
"""
import ctypes
import os
import struct
import sys
import time

SCENARIO, OUTSIDE = sys.argv[1], sys.argv[2]
inp, out = sys.stdin.buffer, sys.stdout.buffer


class XXH128(ctypes.Structure):
    _fields_ = [("low64", ctypes.c_uint64), ("high64", ctypes.c_uint64)]


_xxh = ctypes.CDLL("libxxhash.so.0")
_xxh.XXH3_128bits.restype = XXH128
_xxh.XXH3_128bits.argtypes = [ctypes.c_char_p, ctypes.c_size_t]


def xxh128(b):
    h = _xxh.XXH3_128bits(b, len(b))
    return struct.pack(">QQ", h.high64, h.low64)


def s(b):
    return struct.pack(">I", len(b)) + b


def frame(t, p=b""):
    return struct.pack(">IHH", len(p), t, 0) + p


def read_frame():
    hdr = inp.read(8)
    if len(hdr) < 8:
        sys.exit(0)
    n, t, _ = struct.unpack(">IHH", hdr)
    return t, inp.read(n)


FILE, DIR, LINK = 0, 1, 2


def entry(typ, path, data=b"", link=b"", mode=0o644):
    h = xxh128(link if typ == LINK else data)
    size = len(data) if typ == FILE else 0
    return frame(0x301, struct.pack(">BHQQ", typ, mode, size, time.time_ns()) + h + s(path) + s(link))


def hello():
    return frame(1, struct.pack(">IHHQ", 0x46525931, 1, 1, 0) + s(b"0.1.0-fake")
                 + s(b"Linux") + s(b"x86_64") + struct.pack(">QI", time.time_ns(), os.getpid()))


out.write(b"\x7fFERRY-AGENT\n" + hello())
out.flush()
read_frame()            # HELLO
_, begin = read_frame()  # SYNC_BEGIN
has_base = bool(struct.unpack(">I", begin[:4])[0] & 16)

outside = OUTSIDE.encode()
files = {}              # seq -> bytes to send when asked (or not)
unasked = []            # seqs to send whatever the plan says
deltas = {}             # seq -> DELTA ops to send instead of DATA
entries = []
if SCENARIO == "dotdot":
    entries = [(DIR, b"results"), (FILE, b"results/../../escape.txt", b"pwned")]
elif SCENARIO == "absolute":
    entries = [(DIR, b"results"), (FILE, outside + b"/abs.txt", b"pwned")]
elif SCENARIO == "trailing-slash":
    # "results/a/" as a file: a second name for results/a on some paths.
    entries = [(DIR, b"results"), (FILE, b"results/a/", b"x")]
elif SCENARIO == "trailing-slash-dir":
    entries = [(DIR, b"results/"), (FILE, b"results/a", b"x")]
elif SCENARIO == "outside-pull":
    entries = [(FILE, b"src/evil.py", b"import os")]
elif SCENARIO == "state":
    entries = [(FILE, b".ferry/evil", b"pwned")]
elif SCENARIO == "link-then-file":
    # A symlink pointing out, then a file "inside" it.
    entries = [(DIR, b"results"), (LINK, b"results/ln", b"", outside),
               (FILE, b"results/ln/pwned", b"pwned")]
elif SCENARIO == "folder-link":
    # The pull folder itself as a symlink out: placed, the laptop's
    # next pull would take it for the user's own.
    entries = [(LINK, b"results", b"", outside), (FILE, b"results/pwned", b"pwned")]
elif SCENARIO == "folder-file":
    entries = [(FILE, b"results", b"pwned")]
elif SCENARIO == "through-local-link":
    # results/out is a symlink on the laptop (the test makes it).
    entries = [(DIR, b"results"), (FILE, b"results/ok.txt", b"ok"), (FILE, b"results/out/pwned", b"pwned")]
    unasked = [2]
elif SCENARIO == "unasked":
    entries = [(DIR, b"results"), (FILE, b"results/a.txt", b"aaa")]
    unasked = [0]
elif SCENARIO == "toolong":
    entries = [(DIR, b"results"), (FILE, b"results/a.txt", b"aaa")]
    files[1] = b"a" * 100000
elif SCENARIO in ("delta-range", "delta-wrap", "delta-toolong", "delta-garbage"):
    # The laptop has an old results/big.bin (100000 bytes: 49 blocks of
    # 2048) and pulls with --force, so it sends a signature.
    entries = [(DIR, b"results"), (FILE, b"results/big.bin", b"n" * 100000)]
    copy = lambda first, count: b"\x01" + struct.pack(">II", first, count)
    deltas[1] = {"delta-range": copy(49, 1),
                 "delta-wrap": copy(0xffffffff, 2),
                 "delta-toolong": copy(0, 49) + copy(0, 1),
                 "delta-garbage": b"\x07junk"}[SCENARIO]
elif SCENARIO == "delta-nosig":
    entries = [(DIR, b"results"), (FILE, b"results/new.bin", b"n" * 100000)]
    deltas[1] = b"\x01" + struct.pack(">II", 0, 1)
elif SCENARIO == "unordered":
    entries = [(DIR, b"results"), (FILE, b"results/b.txt", b"b"), (FILE, b"results/a.txt", b"a")]
elif SCENARIO == "modes":
    # setuid, setgid, sticky and world-writable, on files and folders.
    entries = [(DIR, b"results", b"", b"", 0o3777), (DIR, b"results/d", b"", b"", 0o7777),
               (FILE, b"results/d/lib.so", b"x", b"", 0o2666), (FILE, b"results/tool", b"#!/bin/sh\n", b"", 0o6777)]
elif SCENARIO == "escapes":
    # Names and a notice that would retitle the window, ring, rewrite
    # the line or forge one if printed as they came.
    out.write(frame(0x30a, struct.pack(">I", 0) + s(b"results/\x1b]0;pwned\x07gone")
                    + s(b"denied\r\x1b[2Kferry: all good")))
    entries = [(DIR, b"results"), (FILE, b"results/\x1b]0;title\x07.txt", b"t"),
               (FILE, b"results/cr\rname", b"c"), (FILE, b"results/nl\nname", b"n"),
               (FILE, b"results/\xe6\x97\xa5\xe6\x9c\xac.txt", b"j")]
elif SCENARIO == "benign":
    entries = [(DIR, b"results"), (FILE, b"results/a.txt", b"aaa")]
elif SCENARIO == "pings":
    # A thousand pings before the manifest (16 KB, within a pipe's
    # buffer): each is answered, the pull goes on.
    out.write(frame(0x315, struct.pack(">Q", 7)) * 1000)
    entries = [(DIR, b"results"), (FILE, b"results/a.txt", b"aaa")]
elif SCENARIO == "bad-ping":
    out.write(frame(0x315, b"\x00" * 7))
    entries = [(DIR, b"results"), (FILE, b"results/a.txt", b"aaa")]
elif SCENARIO == "base-unasked":
    # "Only changes" though the laptop named no base.
    out.write(frame(0x311, b"\x01"))
    entries = [(DIR, b"results"), (FILE, b"results/a.txt", b"aaa")]
elif SCENARIO == "drop-in-full":
    out.write(frame(0x312, s(b"results/a.txt")))
    entries = [(DIR, b"results")]
elif SCENARIO == "drop-unknown":
    # After a benign pull: "only changes", then a path the base lacks
    # is dropped.
    assert has_base, "the laptop sent no base"
    out.write(frame(0x311, b"\x01"))
    out.write(frame(0x312, s(b"results/zzz.txt")))

for seq, e in enumerate(entries):
    typ, path = e[0], e[1]
    data = e[2] if len(e) > 2 else b""
    link = e[3] if len(e) > 3 else b""
    out.write(entry(typ, path, data, link, *e[4:]))
    files.setdefault(seq, data)
out.write(frame(0x302))
out.flush()

need, pongs = [], 0
while True:
    t, body = read_frame()
    if t == 0x316:
        assert body == struct.pack(">Q", 7), "a pong that is not the ping's"
        pongs += 1
    elif t == 0x303:
        need.append(struct.unpack(">I", body)[0])
    elif t == 0x305:
        break
if SCENARIO == "pings":
    assert pongs == 1000, "%d pongs for 1000 pings" % pongs
for seq in sorted(set(need) | set(unasked)):
    out.write(frame(0x306, struct.pack(">I", seq)))
    if seq in deltas:
        out.write(frame(0x30e, deltas[seq]))
    else:
        out.write(frame(0x307, files.get(seq, b"")))
    out.write(frame(0x308))
out.write(frame(0x309))
out.flush()
while inp.read(65536):
    pass
