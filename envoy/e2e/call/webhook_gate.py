#!/usr/bin/env python3
"""The webhook target livekit-server is configured with: it forwards each delivery unchanged (method,
path, headers, body) to the Convene edge and passes the answer back, unless told to refuse, in
which case it answers 503 and forwards nothing. That is how the test stops webhook delivery for one
join without touching LiveKit, Envoy or Convene: to LiveKit it looks like a receiver that is down,
and LiveKit's retries (about 0, 1, 3, 7, 15 s) are refused as well.

  webhook_gate.py --listen PORT --upstream http://127.0.0.1:<envoy port>
  POST /_gate/refuse, POST /_gate/forward   switch the mode
  GET  /_gate/stats                          {"mode", "forwarded", "refused", "statuses": {...}}

Logs one line per delivery (path with the tenant id, status, size); never a header or a body.
"""

import argparse
import json
import sys
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

state = {"mode": "forward", "forwarded": 0, "refused": 0, "statuses": {}}
lock = threading.Lock()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--listen", type=int, required=True)
    parser.add_argument("--upstream", required=True)
    args = parser.parse_args()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, fmt, *a):  # the default one prints the request line; ours is below
            pass

        def reply(self, status: int, body: bytes, content_type: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("content-type", content_type)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            if self.path == "/_gate/stats":
                with lock:
                    self.reply(200, json.dumps(state).encode())
            else:
                self.reply(404, b"{}")

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            if self.path in ("/_gate/refuse", "/_gate/forward"):
                with lock:
                    state["mode"] = self.path.rsplit("/", 1)[1]
                self.reply(200, json.dumps(state).encode())
                return
            with lock:
                mode = state["mode"]
            if mode == "refuse":
                with lock:
                    state["refused"] += 1
                print(f"refused {self.path} ({len(body)} bytes): 503", flush=True)
                self.reply(503, b"receiver down (test)", "text/plain")
                return
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length", "connection")}
            request = urllib.request.Request(args.upstream + self.path, data=body, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=10) as r:
                    status, answer, ctype = r.status, r.read(), r.headers.get("content-type", "application/json")
            except urllib.error.HTTPError as e:
                status, answer, ctype = e.code, e.read(), e.headers.get("content-type", "application/json")
            except OSError as e:
                status, answer, ctype = 502, str(e).encode(), "text/plain"
            with lock:
                state["forwarded"] += 1
                state["statuses"][str(status)] = state["statuses"].get(str(status), 0) + 1
            print(f"forwarded {self.path} ({len(body)} bytes): {status}", flush=True)
            self.reply(status, answer, ctype)

    server = ThreadingHTTPServer(("127.0.0.1", args.listen), Handler)
    print(f"webhook gate on 127.0.0.1:{args.listen} -> {args.upstream}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
