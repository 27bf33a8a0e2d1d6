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


def cframe(t, ch, p):
    return struct.pack(">IHH", len(p), t, ch) + p


def fwd_port(job, up, port, urls=(), addr=b"127.0.0.1"):
    return (s(job) + struct.pack(">BB", up, 4) + s(addr) + struct.pack(">H", port)
            + struct.pack(">I", len(urls)) + b"".join(s(u) for u in urls))


def fwd(mode):
    """A forward peer gone bad, for `ferry forward`: it speaks channels,
    finds the channel of the client's FWD_WATCH (or FWD_OPEN), then
    fwd-stray   sends FWD_DATA on a channel the client never opened;
    fwd-window  grants a window past CHAN_WINDOW outstanding;
    fwd-urls    sends a FWD_PORT with more URLs than FWD_URLS_MAX;
    fwd-addr    sends a FWD_PORT whose address is not one;
    fwd-escapes sends FWD_SYNCED and a FWD_PORT for $FAKE_FWD_PORT whose
                URL holds terminal escapes, CR, LF and a C1 control;
    fwd-flood   sends FWD_SYNCED and 30,000 FWD_PORT toggling one port
                (PORT from $FAKE_FWD_PORT) up and down, each with a URL,
                then stays silent."""
    import threading
    inp = sys.stdin.buffer
    seen = []
    cv = threading.Condition()

    def reader():
        while True:
            hdr = inp.read(8)
            if len(hdr) < 8:
                return
            n, t, ch = struct.unpack(">IHH", hdr)
            inp.read(n)
            with cv:
                seen.append((t, ch))
                cv.notify_all()

    threading.Thread(target=reader, daemon=True).start()
    out.write(PRE + frame(1, struct.pack(">IHHQ", 0x46525931, 1, 1, 1) + s(b"0.1.0-fake")
                          + s(b"Linux") + s(b"x86_64") + struct.pack(">QI", time.time_ns(), os.getpid())))
    out.flush()
    ch = 1
    with cv:
        cv.wait_for(lambda: any(t in (0x0700, 0x0703) for t, _ in seen), timeout=5)
        for t, c in seen:
            if t in (0x0700, 0x0703):
                ch = c
                break
    if mode == "fwd-stray":
        out.write(cframe(0x0702, (ch + 100) % 65536 or 1, b"unasked"))
    elif mode == "fwd-window":
        out.write(cframe(0x0003, ch, struct.pack(">I", 3 << 20)))
    elif mode == "fwd-urls":
        urls = [b"http://localhost:1/%d" % i for i in range(17)]
        out.write(cframe(0x0704, ch, fwd_port(b"1", 1, 1, urls)))
    elif mode == "fwd-escapes":
        # A URL whose bytes would retitle the window and clear the screen.
        port = int(os.environ.get("FAKE_FWD_PORT", "1"))
        out.write(cframe(0x0705, ch, b""))
        out.write(cframe(0x0704, ch, fwd_port(b"1", 1, port, [
            b"http://localhost:%d/\x1b]0;pwned\x07?token=\x1b[2J\r\nferry: all good\xc2\x9b31m" % port])))
    elif mode == "fwd-addr":
        out.write(cframe(0x0704, ch, fwd_port(b"1", 1, 1, [], addr=b"127.0.0.1\x1b[2J")))
    elif mode == "fwd-flood":
        port = int(os.environ.get("FAKE_FWD_PORT", "1"))
        out.write(cframe(0x0705, ch, b""))
        url = b"http://localhost:%d/?token=flood" % port
        for i in range(30000):
            out.write(cframe(0x0704, ch, fwd_port(b"1", (i + 1) % 2, port, [url])))
    out.flush()
    time.sleep(30)
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
elif MODE.startswith("fwd-"):
    fwd(MODE)
elif MODE == "error-escapes":
    # An error whose words would retitle the window, ring, forge a line
    # and send a C1 CSI if printed as they came.
    out.write(PRE + frame(2, struct.pack(">I", 1) + s(b"go\x1b]0;pwned\x07 away\r\nferry: all good\x1b[2J\xc2\x9b31m\\e")))
out.flush()
