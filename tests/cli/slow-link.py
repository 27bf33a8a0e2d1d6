#!/usr/bin/env python3
"""A slow link for ssh's ProxyCommand: relays stdin/stdout to HOST:PORT
at most RATE bytes a second each way (no kernel support, no root).

Usage: slow-link.py HOST PORT RATE
"""
import os
import socket
import sys
import threading
import time

host, port, rate = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
# Small socket buffers: the link, not loopback's megabytes of buffer,
# decides how much is in flight.
sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
sock.connect((host, port))
CHUNK = 8192


def pump(read, write, done):
    start, sent = time.monotonic(), 0
    while True:
        data = read(CHUNK)
        if not data:
            break
        write(data)
        sent += len(data)
        ahead = sent / rate - (time.monotonic() - start)
        if ahead > 0:
            time.sleep(ahead)
    done()


def write_out(b):
    while b:
        b = b[os.write(1, b):]


up = threading.Thread(target=pump, args=(lambda n: os.read(0, n), sock.sendall,
                                          lambda: sock.shutdown(socket.SHUT_WR)), daemon=True)
up.start()
pump(sock.recv, write_out, lambda: None)
os._exit(0)
