#!/usr/bin/env python3
"""Load for `ferry forward`: a server to run on the server side and the
clients that drive it through a forward from the laptop side.

  fwd-load.py serve PORT [READY_FILE]
      127.0.0.1:PORT.  The first byte of a connection picks its mode:
      b"E" echoes everything back until EOF; b"B" + 8-byte big-endian
      COUNT streams COUNT bytes, then closes; b"G" (an HTTP GET) answers
      each request with "ok" and keeps the connection.  READY_FILE, when given,
      gets the time.time() of listen() (the detection benchmark).
  fwd-load.py conc HOST PORT N SIZE
      N connections at once, each sends SIZE random bytes in echo mode
      while reading them back; every byte is compared.
  fwd-load.py latency HOST PORT [BULK_BYTES] [ROUNDS] [P95_MAX_MS]
      one connection pulls BULK_BYTES (default 200 MB) while another does
      ROUNDS (200) 64-byte round trips; prints p50/p95 and fails when the
      p95 is above P95_MAX_MS (200).
  fwd-load.py bulk HOST PORT BYTES
      pulls BYTES on one connection; prints "bulk SECONDS MB/s".
  fwd-load.py reqs HOST PORT N [new]
      N small HTTP GETs of / on one keep-alive connection (or, with
      "new", one connection each); prints "reqs p50_ms p95_ms".
  fwd-load.py churn SECONDS [KEEP [TAG]]   (TAG: ignored, a mark for pkill -f)
      bursts of KEEP (8) listening sockets on 127.0.0.1 (ports the kernel
      picks) opened together and closed in one or two goes, for SECONDS:
      ports coming and going under a watch.
  fwd-load.py answer HOST PORT TIMEOUT_S
      retries connect + one echo round trip until it works; prints the
      time.time() it first did (the detection benchmark).

Exit 0 when all went as expected, 1 with a reason on stderr otherwise.
"""
import http.client
import os
import socket
import struct
import sys
import threading
import time

TIMEOUT = 60


def die(msg):
    print("fwd-load: " + msg, file=sys.stderr)
    sys.exit(1)


def recv_exact(s, n):
    b = bytearray()
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            break
        b += c
    return bytes(b)


def serve(port, ready=None):
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", port))
    ls.listen(512)
    if ready:
        with open(ready + ".tmp", "w") as f:
            f.write("%.6f\n" % time.time())
        os.rename(ready + ".tmp", ready)
    print("serving on 127.0.0.1:%d" % port, flush=True)
    block = os.urandom(1 << 20)

    def one(c):
        try:
            c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            mode = c.recv(1)
            if mode == b"E":
                while True:
                    d = c.recv(65536)
                    if not d:
                        break
                    c.sendall(d)
            elif mode == b"G":
                # HTTP/1.1 keep-alive, one send per answer (http.server's
                # header and body writes meet delayed ACKs: 40 ms each).
                buf = b"G"
                while True:
                    while b"\r\n\r\n" not in buf:
                        d = c.recv(65536)
                        if not d:
                            return
                        buf += d
                    buf = buf.split(b"\r\n\r\n", 1)[1]
                    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n")
            elif mode == b"B":
                left = struct.unpack(">Q", recv_exact(c, 8))[0]
                view = memoryview(block)
                while left > 0:
                    n = min(left, len(block))
                    c.sendall(view[:n])
                    left -= n
        except OSError:
            pass
        finally:
            c.close()

    while True:
        c, _ = ls.accept()
        threading.Thread(target=one, args=(c,), daemon=True).start()


def connect(host, port, timeout=TIMEOUT):
    s = socket.create_connection((host, port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def conc(host, port, n, size):
    errors = []
    go = threading.Barrier(n)

    def one(i):
        try:
            data = os.urandom(size)
            s = connect(host, port, 30)
            go.wait(TIMEOUT)

            def send():
                s.sendall(b"E" + data)
                s.shutdown(socket.SHUT_WR)
            t = threading.Thread(target=send, daemon=True)
            t.start()
            got = bytearray()
            while True:
                c = s.recv(65536)
                if not c:
                    break
                got += c
            t.join(TIMEOUT)
            s.close()
            if bytes(got) != data:
                errors.append("connection %d: %d bytes back of %d, %s" % (
                    i, len(got), size, "a prefix" if data.startswith(bytes(got)) else "different bytes"))
        except (OSError, threading.BrokenBarrierError) as e:
            errors.append("connection %d: %s" % (i, e))
            go.abort()    # the others stop waiting for this one

    t0 = time.monotonic()
    ts = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    dt = time.monotonic() - t0
    print("conc: %d connections x %d bytes, %d failed, %.2f s" % (n, size, len(errors), dt))
    if errors:
        # The first failure, not the barrier's echo of it in the others.
        errors.sort(key=lambda e: "Barrier" in e)
        die("; ".join(errors[:5]))


def pull(s, count, progress=None):
    s.sendall(b"B" + struct.pack(">Q", count))
    got = 0
    buf = bytearray(1 << 20)
    while True:
        k = s.recv_into(buf)
        if not k:
            break
        got += k
        if progress is not None:
            progress[0] = got
    return got


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]


def latency(host, port, bulk, rounds, p95_max):
    progress = [0]
    result = {}

    def bulker():
        try:
            s = connect(host, port)
            result["got"] = pull(s, bulk, progress)
            s.close()
        except OSError as e:
            result["err"] = str(e)
        result["end"] = time.monotonic()

    t = threading.Thread(target=bulker, daemon=True)
    t0 = time.monotonic()
    t.start()
    # Measure while the bulk stream is flowing, not before it starts.
    while progress[0] < (1 << 20) and t.is_alive() and time.monotonic() - t0 < TIMEOUT:
        time.sleep(0.001)
    s = connect(host, port)
    s.sendall(b"E")
    msg = b"x" * 64
    rtts = []
    during = 0
    for _ in range(rounds):
        a = time.monotonic()
        s.sendall(msg)
        if recv_exact(s, 64) != msg:
            die("latency: the echo came back wrong")
        rtts.append((time.monotonic() - a) * 1000.0)
        if t.is_alive():
            during += 1
    s.close()
    t.join(TIMEOUT * 5)
    if "err" in result:
        die("latency: the bulk stream failed: " + result["err"])
    if result.get("got") != bulk:
        die("latency: the bulk stream brought %s bytes of %d" % (result.get("got"), bulk))
    bulk_s = result["end"] - t0
    p50, p95 = pct(rtts, 50), pct(rtts, 95)
    print("latency: p50 %.2f ms, p95 %.2f ms, max %.2f ms over %d round trips (%d during the bulk);"
          " bulk %d MB in %.2f s (%.0f MB/s)" % (p50, p95, max(rtts), rounds, during,
                                                 bulk // 1000000, bulk_s, bulk / bulk_s / 1e6))
    if p95 > p95_max:
        die("latency: interactive p95 %.1f ms is above %d ms" % (p95, p95_max))


def bulk_cmd(host, port, count):
    s = connect(host, port)
    a = time.monotonic()
    got = pull(s, count)
    dt = time.monotonic() - a
    if got != count:
        die("bulk: %d bytes of %d" % (got, count))
    print("bulk %.3f %.1f" % (dt, count / dt / 1e6))


def reqs(host, port, n, new):
    ts = []
    c = None
    for _ in range(n):
        a = time.monotonic()
        if c is None:
            c = http.client.HTTPConnection(host, port, timeout=TIMEOUT)
        c.request("GET", "/")
        r = c.getresponse()
        r.read()
        if r.status != 200:
            die("reqs: HTTP %d" % r.status)
        if new or r.will_close:
            c.close()
            c = None
        ts.append((time.monotonic() - a) * 1000.0)
    print("reqs %.3f %.3f" % (pct(ts, 50), pct(ts, 95)))


def answer(host, port, limit):
    end = time.monotonic() + limit
    while time.monotonic() < end:
        try:
            s = socket.create_connection((host, port), timeout=2)
            s.sendall(b"Ex")
            if s.recv(1) == b"x":
                print("%.6f" % time.time())
                s.close()
                return
            s.close()
        except OSError:
            pass
        time.sleep(0.002)
    die("answer: %s:%d did not answer in %s s" % (host, port, limit))


def churn(seconds, keep):
    import random
    rnd = random.Random(1)

    def listener():
        ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        ls.bind(("127.0.0.1", 0))
        ls.listen(4)
        return ls
    base = [listener() for _ in range(2)]
    end = time.monotonic() + seconds
    n = len(base)
    while time.monotonic() < end:
        # A burst that opens and then closes together, as a Jupyter
        # kernel's five ports do: the newest sockets are the ones gone.
        burst = [listener() for _ in range(keep)]
        n += keep
        time.sleep(rnd.uniform(0.15, 0.35))
        for ls in burst[:rnd.randint(1, keep)]:
            ls.close()
        time.sleep(rnd.uniform(0.15, 0.35))
        for ls in burst:
            ls.close()
    print("churn: %d listeners opened in %d s" % (n, seconds), flush=True)


def main():
    a = sys.argv[1:]
    if not a:
        die("usage: see the top of this file")
    cmd = a[0]
    if cmd == "serve":
        serve(int(a[1]), a[2] if len(a) > 2 else None)
    elif cmd == "conc":
        conc(a[1], int(a[2]), int(a[3]), int(a[4]))
    elif cmd == "latency":
        latency(a[1], int(a[2]), int(a[3]) if len(a) > 3 else 200000000,
                int(a[4]) if len(a) > 4 else 200, float(a[5]) if len(a) > 5 else 200.0)
    elif cmd == "bulk":
        bulk_cmd(a[1], int(a[2]), int(a[3]))
    elif cmd == "reqs":
        reqs(a[1], int(a[2]), int(a[3]), len(a) > 4 and a[4] == "new")
    elif cmd == "churn":
        churn(float(a[1]), int(a[2]) if len(a) > 2 else 8)
    elif cmd == "answer":
        answer(a[1], int(a[2]), float(a[3]))
    else:
        die("unknown command " + cmd)


if __name__ == "__main__":
    main()
