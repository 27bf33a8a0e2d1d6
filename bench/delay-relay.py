#!/usr/bin/env python3
"""A long, thin link for ssh's ProxyCommand: relays stdin/stdout to
HOST:PORT with DELAY_MS of latency each way and at most RATE bytes a
second each way (no kernel support, no root: this kernel has no netem).

Usage: delay-relay.py HOST PORT DELAY_MS RATE

Each direction is modelled as a link: a chunk is serialised at RATE
behind the chunks before it, then arrives DELAY_MS later.  The relay
holds at most BUFFER bytes in flight per direction (about one
bandwidth-delay product plus a router's queue) and stops reading beyond
that, so the sender sees the link's back-pressure, not loopback's.
"""
import collections
import os
import socket
import sys
import threading
import time

host, port = sys.argv[1], int(sys.argv[2])
delay, rate = int(sys.argv[3]) / 1000.0, int(sys.argv[4])
# 20 Mbit/s x 100 ms round trip = 250 KB in flight; a queue as much again.
BUFFER = max(64 * 1024, int(rate * delay * 2) * 2)
CHUNK = 16384

sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
sock.connect((host, port))


class Link:
    def __init__(self, read, write, done):
        self.read, self.write, self.done = read, write, done
        self.q = collections.deque()
        self.bytes = 0
        self.eof = False
        self.cv = threading.Condition()
        self.wire_free = 0.0    # when the serialiser is idle again

    def reader(self):
        while True:
            data = self.read(CHUNK)
            now = time.monotonic()
            with self.cv:
                if not data:
                    self.eof = True
                    self.cv.notify_all()
                    return
                start = max(now, self.wire_free)
                self.wire_free = start + len(data) / rate
                self.q.append((self.wire_free + delay, data))
                self.bytes += len(data)
                self.cv.notify_all()
                while self.bytes > BUFFER:
                    self.cv.wait()

    def writer(self):
        while True:
            with self.cv:
                while not self.q and not self.eof:
                    self.cv.wait()
                if not self.q:
                    break
                due, data = self.q[0]
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            self.write(data)
            with self.cv:
                self.q.popleft()
                self.bytes -= len(data)
                self.cv.notify_all()
        self.done()


def write_out(b):
    while b:
        b = b[os.write(1, b):]


up = Link(lambda n: os.read(0, n), sock.sendall, lambda: sock.shutdown(socket.SHUT_WR))
down = Link(sock.recv, write_out, lambda: None)
for f in (up.reader, up.writer, down.reader):
    threading.Thread(target=f, daemon=True).start()
down.writer()
os._exit(0)
