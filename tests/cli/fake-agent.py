#!/usr/bin/env python3
"""A deliberately broken or malicious agent, used as ssh_command.

ferry appends ssh's arguments; we ignore them and misbehave as MODE says.
"""
import os
import struct
import sys
import time

MODE = sys.argv[1]
out = sys.stdout.buffer


def s(b):
    return struct.pack(">I", len(b)) + b


def frame(t, p):
    return struct.pack(">IHH", len(p), t, 0) + p


def hello(magic=0x46525931, vmin=1, vmax=1):
    return frame(1, struct.pack(">IHHQ", magic, vmin, vmax, 0) + s(b"0.1.0-fake")
                 + s(b"Linux") + s(b"x86_64") + struct.pack(">QI", time.time_ns(), os.getpid()))


PRE = b"\x7fFERRY-AGENT\n"
if MODE == "oversize":
    out.write(PRE + struct.pack(">IHH", 0xFFFFFFF0, 1, 0))
elif MODE == "badmagic":
    out.write(PRE + hello(magic=0x12345678))
elif MODE == "badversion":
    out.write(PRE + hello(vmin=7, vmax=7))
elif MODE == "badexit":
    out.write(PRE + hello() + frame(0x107, b"\x05\x00\x00\x00\x01"))
elif MODE == "window":
    out.write(PRE + hello() + frame(0x105, struct.pack(">I", 0xFFFFFFFF)))
elif MODE == "unknown":
    out.write(PRE + hello() + frame(0x7777, b"zz"))
elif MODE == "truncated":
    out.write(PRE + hello() + frame(0x103, b"partial")[:-3])
elif MODE == "silent":
    out.write(PRE)
elif MODE == "noise":
    out.write(b"x" * 200 + b"\n")
    out.flush()
    for _ in range(2000):
        out.write(b"y" * 100 + b"\n")
elif MODE == "longline":
    out.write(b"z" * 100000)
elif MODE == "slow":
    time.sleep(30)
elif MODE == "otheros":
    out.write(b"FERRY-BOOT need Darwin arm64 /Users/me/.cache/ferry/agent\n")
elif MODE == "error":
    out.write(PRE + frame(2, struct.pack(">I", 1) + s(b"go away")))
elif MODE == "error-escapes":
    # An error whose words would retitle the window, ring, forge a line
    # and send a C1 CSI if printed as they came.
    out.write(PRE + frame(2, struct.pack(">I", 1) + s(b"go\x1b]0;pwned\x07 away\r\nferry: all good\x1b[2J\xc2\x9b31m\\e")))
out.flush()
