#!/usr/bin/env python3
"""Outbound webhooks end to end: a receiver that verifies every delivery with the official Standard
Webhooks Python package (`standardwebhooks`), an endpoint created through Envoy's REST/JSON, and
sessions whose joins and leaves must arrive signed, in log order, each accepted exactly once,
although the receiver fails its first two requests.

    outbound_webhooks.py <edge base URL> <api key>

Prints "<case> <value>" lines for run.sh to check; exits 0 unless it could not run at all.
"""

import json
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

FAIL_FIRST = 2
TYPES = ["session.SESSION_CREATED", "session.PARTICIPANT_JOINED", "session.PARTICIPANT_LEFT"]

base, key = sys.argv[1], sys.argv[2]
lock = threading.Lock()
secret_box: dict = {}
requests: list = []  # (webhook-id, status answered, verified, position)
arrivals: dict = {}  # aggregate id -> monotonic time its first request arrived


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 (http.server's naming)
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            Webhook(secret_box["secret"]).verify(body, headers)
            verified = True
        except (WebhookVerificationError, KeyError):
            verified = False
        data = json.loads(body)["data"]
        position = int(data["position"])
        with lock:
            arrivals.setdefault(data.get("aggregateId"), time.monotonic())
            status = 503 if len(requests) < FAIL_FIRST else 204
            requests.append((headers.get("webhook-id"), status, verified, position))
        self.send_response(status)
        self.end_headers()

    def log_message(self, *args):
        pass


def visit(ref: str) -> dict:
    start = int(time.time()) + 3600
    return call("POST", "/v1/sessions", {
        "externalRef": ref, "media": "MEDIA_TYPE_VIDEO",
        "scheduledStartTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start)),
        "scheduledEndTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start + 1800)),
        "participants": [{"userId": "dr", "role": "PARTICIPANT_ROLE_HOST"}]})["session"]


def call(method: str, path: str, body=None):
    req = urllib.request.Request(base + path, method=method, data=None if body is None else json.dumps(body).encode(),
                                 headers={"authorization": f"Bearer {key}", "content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=15) as r:
        return json.loads(r.read() or b"{}")


server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
threading.Thread(target=server.serve_forever, daemon=True).start()
url = f"http://127.0.0.1:{server.server_address[1]}/hook"

made = call("POST", "/v1/webhookEndpoints", {"url": url, "eventTypes": TYPES, "description": "e2e receiver"})
secret_box["secret"] = made["secret"]
print("secret-prefix", made["secret"][:6])
endpoint = made["endpoint"]["id"]

sessions = []
now = int(time.time())
for i in range(3):
    s = visit(f"hooks-{now}-{i}")
    call("POST", f"/v1/sessions/{s['id']}/participants/dr:join", {})
    call("POST", f"/v1/sessions/{s['id']}/participants/dr:leave", {})
    sessions.append(s["id"])

expected = sorted(int(e["position"]) for sid in sessions for e in call("GET", f"/v1/sessions/{sid}/events")["events"]
                  if "session." + e["type"].replace("SESSION_EVENT_TYPE_", "") in TYPES)
deadline = time.time() + 120
while time.time() < deadline:
    with lock:
        accepted = [r for r in requests if r[1] == 204]
    if len(accepted) >= len(expected):
        break
    time.sleep(0.5)

with lock:
    accepted = [r for r in requests if r[1] == 204]
    ids = [r[0] for r in accepted]
    print("expected", len(expected))
    print("requests", len(requests))
    print("unverified", sum(1 for r in requests if not r[2]))
    print("accepted-in-order", "yes" if [r[3] for r in accepted] == expected else "no")
    print("accepted-twice", len(ids) - len(set(ids)))
    print("first-retried-same-id", "yes" if len(requests) > FAIL_FIRST and requests[0][0] == requests[FAIL_FIRST][0] else "no")
# The receiver's answer comes before the server records it: wait for the records, not the answers.
deadline = time.time() + 15
while True:
    deliveries = call("GET", f"/v1/webhookEndpoints/{endpoint}/deliveries")["deliveries"]
    delivered = sum(1 for d in deliveries if d["status"] == "WEBHOOK_DELIVERY_STATUS_DELIVERED")
    if delivered >= len(expected) or time.time() > deadline:
        break
    time.sleep(0.1)
print("listed-delivered", delivered)

# Latency, with the receiver now answering 2xx: from a session's creation (the REST call's start)
# to its SESSION_CREATED webhook's arrival, one session at a time.
latencies = []
for i in range(10):
    started = time.monotonic()
    sid = visit(f"hooks-latency-{now}-{i}")["id"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with lock:
            arrived = arrivals.get(sid)
        if arrived is not None:
            latencies.append((arrived - started) * 1000)
            break
        time.sleep(0.005)
latencies.sort()
print("latency-count", len(latencies))
if latencies:
    print("latency-ms", "p50=%.0f,max=%.0f" % (latencies[len(latencies) // 2], latencies[-1]))
server.shutdown()
