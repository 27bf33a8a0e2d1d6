#!/usr/bin/env python3
"""A client that speaks channels (docs/PROTOCOL.md, "Channels") to a real
`ferry agent`, for what the ferry commands do not do yet: several requests
at once on one session.

usage: chan-client.py FERRY ROOT JOB_ID MODE

MODE
  streams   a monitor stream (channel 1), `logs -f` of JOB_ID (channel 2)
            and a command that sleeps (channel 3), all at once, with an INFO
            on channel 0 meanwhile; prints what came when, checks that the
            streams kept flowing while the command ran.
  reset     a command that sleeps on channel 4, then CHAN_RESET: the agent
            answers CHAN_CLOSE and the session goes on; a sequential request
            on channel 5 is refused with CHAN_RESET.
  seq       a monitor stream on channel 1 while a sequential conversation
            (FILE_GET of JOB_ID's worth of MiB from ROOT/big, read slowly)
            runs on channel 0: samples keep coming between its data frames.
  nochan    a hello without CAP_CHANNELS: a frame on channel 1 ends the
            session with ERROR (the old rule).
Exits 0 when every check passed, 1 with the reason on stderr otherwise.
"""
import os
import select
import struct
import subprocess
import sys
import time

FERRY, ROOT, JOB, MODE = sys.argv[1], sys.argv[2].encode(), int(sys.argv[3]), sys.argv[4]
PRE = b"\x7fFERRY-AGENT\n"
HELLO, ERROR, WINDOW, CLOSE, RESET = 0x0001, 0x0002, 0x0003, 0x0004, 0x0005
EXEC, STARTED, STDOUT, EXIT = 0x0100, 0x0101, 0x0103, 0x0107
STDIN = 0x0102
INFO, INFO_REPLY = 0x0200, 0x0201
JOB_LOGS, JOB_OUTPUT, JOB_DONE = 0x0404, 0x0405, 0x0406
MON_REQ, MON_SAMPLE, MON_STOP, MON_END = 0x0500, 0x0501, 0x0502, 0x0503
FILE_GET, FILE_DATA, FILE_END = 0x0600, 0x0601, 0x0602


def fail(msg):
    sys.stderr.write("chan-client: %s\n" % msg)
    sys.exit(1)


def s(b):
    return struct.pack(">I", len(b)) + b


def strv(items):
    return struct.pack(">I", len(items)) + b"".join(s(i) for i in items)


class Agent:
    def __init__(self, caps):
        self.p = subprocess.Popen([FERRY, "agent"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.buf = b""
        self.t0 = time.monotonic()
        hello = struct.pack(">IHHQ", 0x46525931, 1, 1, caps) + s(b"test") + s(b"Linux") + s(b"x86_64") \
            + struct.pack(">QI", time.time_ns(), os.getpid())
        self.send(0, HELLO, hello)
        while PRE not in self.buf:
            self.fill(5)
        self.buf = self.buf[self.buf.index(PRE) + len(PRE):]
        ch, t, body = self.next(5)
        if t != HELLO:
            fail("no hello (type 0x%04x)" % t)
        self.caps = struct.unpack(">Q", body[8:16])[0]

    def send(self, ch, t, body=b""):
        self.p.stdin.write(struct.pack(">IHH", len(body), t, ch) + body)
        self.p.stdin.flush()

    def fill(self, timeout):
        r, _, _ = select.select([self.p.stdout], [], [], timeout)
        if not r:
            fail("no answer from the agent within %ss" % timeout)
        d = os.read(self.p.stdout.fileno(), 65536)
        if not d:
            raise EOFError
        self.buf += d

    def next(self, timeout=10):
        """(channel, type, body) of the next frame; grants window back."""
        while len(self.buf) < 8 or len(self.buf) < 8 + struct.unpack(">I", self.buf[:4])[0]:
            self.fill(timeout)
        n, t, ch = struct.unpack(">IHH", self.buf[:8])
        body = self.buf[8:8 + n]
        self.buf = self.buf[8 + n:]
        if ch != 0 and t not in (WINDOW, CLOSE, RESET) and n:
            self.send(ch, WINDOW, struct.pack(">I", n))
        return ch, t, body

    def now(self):
        return time.monotonic() - self.t0


def exec_req(argv):
    flags = 0x2 | 0x4  # no login environment, no stdin
    return struct.pack(">I", flags) + s(ROOT) + strv(argv) + strv([])


def streams():
    a = Agent(1)
    if not a.caps & 1:
        fail("the agent does not announce CAP_CHANNELS")
    a.send(1, MON_REQ, struct.pack(">IIII", 200, 0, 0, 0) + s(ROOT))
    a.send(2, JOB_LOGS, struct.pack(">IIB", JOB, 0, 1))
    a.send(3, EXEC, exec_req([b"sh", b"-c", b"sleep 2; echo slept"]))
    a.send(0, INFO, s(ROOT))
    seen = {}
    started = exited = None
    info_at = None
    during = {1: 0, 2: 0}
    closed = set()
    out3 = b""
    stopped = False
    while len(closed) < 3:
        ch, t, body = a.next()
        seen.setdefault((ch, t), 0)
        seen[(ch, t)] += 1
        if (ch, t) == (3, STARTED):
            started = a.now()
        elif (ch, t) == (3, STDOUT):
            out3 += body
        elif (ch, t) == (3, EXIT):
            exited = a.now()
            if body != b"\x00\x00\x00\x00\x00":
                fail("the command on channel 3 did not exit 0: %r" % body)
        elif (ch, t) == (0, INFO_REPLY):
            info_at = a.now()
        elif (ch, t) in ((1, MON_SAMPLE), (2, JOB_OUTPUT)):
            if started is not None and exited is None:
                during[ch] += 1
        elif t == CLOSE:
            closed.add(ch)
            a.send(ch, CLOSE)
        elif t in (ERROR, RESET):
            fail("channel %d: type 0x%04x %r" % (ch, t, body))
        # Once the command and the follow are over, stop the monitor.
        if exited is not None and 2 in closed and not stopped:
            a.send(1, MON_STOP)
            stopped = True
    print("samples during the command: %d, log chunks during it: %d" % (during[1], during[2]))
    if info_at is None or info_at > exited:
        fail("INFO on channel 0 was not answered while the command ran")
    if out3 != b"slept\n":
        fail("channel 3 stdout %r" % out3)
    if during[1] < 3:
        fail("the monitor stream stalled while channel 3 worked (%d samples)" % during[1])
    if during[2] < 2:
        fail("logs -f stalled while channel 3 worked (%d chunks)" % during[2])
    if seen.get((2, JOB_DONE)) != 1 or seen.get((1, MON_END)) != 1:
        fail("missing JOB_DONE or MON_END: %r" % seen)
    a.p.stdin.close()
    if a.p.wait(10) != 0:
        fail("the agent exited %d" % a.p.returncode)
    print("ok")


def reset():
    a = Agent(1)
    a.send(4, EXEC, exec_req([b"sleep", b"30"]))
    ch, t, body = a.next()
    if (ch, t) != (4, STARTED):
        fail("expected EXEC_STARTED on 4, got %d 0x%04x" % (ch, t))
    pid = struct.unpack(">I", body)[0]
    # Input for a command without stdin is discarded, its window returned.
    a.send(4, STDIN, b"early")
    a.send(4, RESET, struct.pack(">I", 1) + s(b"user gave up"))
    ch, t, body = a.next()
    while (ch, t) == (4, 0x0105):  # exec's WINDOW for the discarded input
        ch, t, body = a.next()
    if (ch, t) != (4, CLOSE):
        fail("expected CHAN_CLOSE on 4 after our reset, got %d 0x%04x" % (ch, t))
    for _ in range(50):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        fail("the command on a reset channel still runs")
    a.send(5, INFO, s(ROOT))
    ch, t, body = a.next()
    if (ch, t) != (5, RESET):
        fail("a sequential request on channel 5: expected CHAN_RESET, got %d 0x%04x" % (ch, t))
    a.send(5, CLOSE)
    # The session goes on: channel 4 is free again, and channel 0 works.
    a.send(4, EXEC, exec_req([b"echo", b"again"]))
    a.send(0, INFO, s(ROOT))
    got = set()
    while len(got) < 3:
        ch, t, body = a.next()
        if t in (ERROR, RESET):
            fail("channel %d: type 0x%04x %r" % (ch, t, body))
        got.add((ch, t)) if (ch, t) in ((4, EXIT), (4, CLOSE), (0, INFO_REPLY)) else None
    a.p.stdin.close()
    if a.p.wait(10) != 0:
        fail("the agent exited %d" % a.p.returncode)
    print("ok")


def seq():
    a = Agent(1)
    a.send(1, MON_REQ, struct.pack(">IIII", 100, 0, 0, 0) + s(ROOT))
    a.send(0, FILE_GET, s(ROOT) + s(b"big") + struct.pack(">Q", 64 << 20))
    data = 0
    during = 0
    ended = False
    while not ended:
        ch, t, body = a.next()
        if (ch, t) == (0, FILE_DATA):
            data += len(body)
            time.sleep(0.005)  # a slow reader: the link backs up
        elif (ch, t) == (0, FILE_END):
            ended = True
        elif (ch, t) == (1, MON_SAMPLE):
            if data > 0:
                during += 1
        elif t in (ERROR, RESET):
            fail("channel %d: type 0x%04x %r" % (ch, t, body))
    print("file bytes: %d, samples during the transfer: %d" % (data, during))
    if data != JOB << 20:
        fail("FILE_GET brought %d bytes" % data)
    if during < 3:
        fail("the monitor stream stalled during the sequential conversation (%d samples)" % during)
    a.send(1, MON_STOP)
    got = set()
    while got != {MON_END, CLOSE}:
        ch, t, body = a.next()
        if ch == 1 and t in (MON_END, CLOSE):
            got.add(t)
    a.send(1, CLOSE)
    a.p.stdin.close()
    if a.p.wait(10) != 0:
        fail("the agent exited %d" % a.p.returncode)
    print("ok")


def nochan():
    a = Agent(0)
    a.send(1, INFO, s(ROOT))
    ch, t, body = a.next()
    if (ch, t) != (0, ERROR):
        fail("expected ERROR on channel 0, got %d 0x%04x" % (ch, t))
    try:
        while True:
            a.next()
    except EOFError:
        pass
    if a.p.wait(10) != 1:
        fail("the agent exited %d, not 1" % a.p.returncode)
    print("ok")


{"streams": streams, "reset": reset, "seq": seq, "nochan": nochan}[MODE]()
