#!/usr/bin/python3
"""Checks that a Jupyter server works through URL, as a browser would use
it: the REST API with the URL's token, a kernel, and a round trip on the
kernel's websocket (Jupyter messaging protocol 5.x).

Usage: jupyter-check.py URL [TIMEOUT_S]
  URL as Jupyter prints it: http://127.0.0.1:8890/?token=abc (or /tree?token=)

GET /api/status must answer 200; POST /api/kernels gives a kernel; on
ws://HOST:PORT/api/kernels/ID/channels?token=... an execute_request for
1+1 must bring an execute_result "2" on iopub; the kernel is deleted.
Exit 0, or 1 with the reason on stderr.  Needs python3-websocket (the
system python3, hence the path above).
"""
import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

import websocket


def die(msg):
    print("jupyter-check: " + msg, file=sys.stderr)
    sys.exit(1)


def main():
    if len(sys.argv) < 2:
        die("usage: jupyter-check.py URL [TIMEOUT_S]")
    url = urllib.parse.urlsplit(sys.argv[1])
    limit = float(sys.argv[2]) if len(sys.argv) > 2 else 30.0
    token = urllib.parse.parse_qs(url.query).get("token", [""])[0]
    if url.scheme != "http" or not url.hostname or not url.port:
        die("not an http://HOST:PORT/ URL: " + sys.argv[1])
    base = "http://%s:%d" % (url.hostname, url.port)
    hdr = {"Authorization": "token " + token} if token else {}

    def api(method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(base + path, data=data, method=method, headers=hdr)
        try:
            with urllib.request.urlopen(req, timeout=limit) as r:
                raw = r.read()
                return r.status, (json.loads(raw) if raw else None)
        except urllib.error.HTTPError as e:
            return e.code, None
        except (OSError, ValueError) as e:
            die("%s %s: %s" % (method, path, e))

    st, body = api("GET", "/api/status")
    if st != 200:
        die("GET /api/status: HTTP %d, not 200" % st)
    st, kernel = api("POST", "/api/kernels", {})
    if st not in (200, 201) or not kernel or "id" not in kernel:
        die("POST /api/kernels: HTTP %d, %r" % (st, kernel))
    kid = kernel["id"]
    ok = False
    why = "no execute_result"
    try:
        ws_url = "ws://%s:%d/api/kernels/%s/channels?token=%s" % (
            url.hostname, url.port, kid, urllib.parse.quote(token))
        ws = websocket.create_connection(ws_url, timeout=limit, header=["Authorization: token " + token])
        session = uuid.uuid4().hex
        msg_id = uuid.uuid4().hex
        ws.send(json.dumps({
            "header": {"msg_id": msg_id, "username": "ferry", "session": session,
                       "msg_type": "execute_request", "version": "5.3",
                       "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
            "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
            "content": {"code": "1+1", "silent": False, "store_history": False,
                        "user_expressions": {}, "allow_stdin": False, "stop_on_error": True},
        }))
        end = time.monotonic() + limit
        while time.monotonic() < end:
            m = json.loads(ws.recv())
            if m.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            t = m.get("msg_type") or m.get("header", {}).get("msg_type")
            if m.get("channel") == "iopub" and t == "execute_result":
                got = m["content"]["data"].get("text/plain")
                if got == "2":
                    ok = True
                    break
                why = "execute_result %r, not '2'" % got
                break
            if t == "error":
                why = "the kernel raised %s" % m["content"].get("ename")
                break
        ws.close()
    except (OSError, websocket.WebSocketException, ValueError, KeyError) as e:
        why = "websocket: %s" % e
    st, _ = api("DELETE", "/api/kernels/" + kid)
    if not ok:
        die(why)
    if st != 204:
        die("DELETE /api/kernels/%s: HTTP %d, not 204" % (kid, st))
    print("jupyter-check: %s: status 200, kernel %s ran 1+1 = 2 over its websocket" % (base, kid[:8]))


if __name__ == "__main__":
    main()
