#!/usr/bin/env python3
"""A fake of Twilio's Messaging REST API for the call e2e (standard library only). Convene's replicas
reach it through CONVENE_TWILIO_API_BASE=http://localhost:<port>, which moves every
https://*.twilio.com request of the Twilio SDK onto this host (PROVIDERS.md section 5).

  fake_twilio.py --listen PORT
  POST /2010-04-01/Accounts/{AC}/Messages.json   form To, From or MessagingServiceSid, Body,
                                                 StatusCallback: 201 with Twilio's Message JSON
                                                 (sid SM + 32 hex, status queued, RFC 2822 dates)
  GET  /2010-04-01/Accounts/{AC}/Messages.json   the account's messages, newest first, filtered by
                                                 To, DateSent (>=, <=, >, < or =), paged by PageSize
                                                 and Page: Twilio's page JSON (messages, meta)
  GET  /_messages                                for the test: every message as received (with the
                                                 account of its path and whether it had Basic auth)
  anything else: 404 with Twilio's error JSON (code 20404)

Creating without To, without a sender or without a Body answers 400 with Twilio's code 21604,
21603 or 21602. Logs one line per request (method, path without the query, status); never a
phone number, a body or a header: the bodies carry invitation codes.
"""

from __future__ import annotations

import argparse
import email.utils
import secrets
import json
import re
import sys
import threading
import time
import urllib.parse
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MESSAGES = re.compile(r"^/2010-04-01/Accounts/(AC[0-9a-fA-F]{32})/Messages\.json$")
API = "https://api.twilio.com"

messages: list[dict] = []  # as received, oldest first
lock = threading.Lock()


def rfc2822(t: float) -> str:
    return email.utils.formatdate(t, usegmt=False).replace("-0000", "+0000")


def message_json(m: dict) -> dict:
    """A Message resource as Twilio returns it."""
    date = rfc2822(m["sent"])
    path = f"/2010-04-01/Accounts/{m['account']}/Messages/{m['sid']}"
    return {
        "sid": m["sid"], "account_sid": m["account"], "api_version": "2010-04-01", "body": m["body"],
        "date_created": date, "date_sent": date, "date_updated": date, "direction": "outbound-api",
        "error_code": None, "error_message": None, "from": m["from"], "to": m["to"],
        "messaging_service_sid": m["messaging_service_sid"], "num_media": "0", "num_segments": "1",
        "price": None, "price_unit": "USD", "status": "queued", "uri": path + ".json",
        "subresource_uris": {"media": path + "/Media.json"},
    }


def error_json(code: int, status: int, message: str) -> dict:
    return {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}", "status": status}


def sent_matches(sent: float, key: str, value: str) -> bool:
    """Twilio's DateSent filters: a day (YYYY-MM-DD) or a time (YYYY-MM-DDThh:mm:ssZ)."""
    op = key[len("DateSent"):] or "="
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        left, right = datetime.fromtimestamp(sent, timezone.utc).date().isoformat(), value
    else:
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
        left, right = sent, (at if at.tzinfo else at.replace(tzinfo=timezone.utc)).timestamp()
    return {"=": left == right, ">=": left >= right, "<=": left <= right, ">": left > right, "<": left < right}[op]


def page_json(account: str, query: dict[str, str], found: list[dict]) -> dict:
    size = max(1, min(1000, int(query.get("PageSize", "50"))))
    page = max(0, int(query.get("Page", "0")))
    chunk = found[page * size:(page + 1) * size]
    path = f"/2010-04-01/Accounts/{account}/Messages.json"

    def url(p: int) -> str:
        q = {**query, "PageSize": str(size), "Page": str(p)}
        if p:
            q["PageToken"] = f"PA{p}"
        return path + "?" + urllib.parse.urlencode(q)

    next_uri = url(page + 1) if (page + 1) * size < len(found) else None
    previous_uri = url(page - 1) if page > 0 else None
    return {
        "messages": [message_json(m) for m in chunk],
        "end": page * size + max(len(chunk) - 1, 0), "first_page_uri": url(0), "next_page_uri": next_uri,
        "page": page, "page_size": size, "previous_page_uri": previous_uri, "start": page * size, "uri": url(page),
        "meta": {"page": page, "page_size": size, "first_page_url": API + url(0),
                 "previous_page_url": API + previous_uri if previous_uri else None, "url": API + url(page),
                 "next_page_url": API + next_uri if next_uri else None, "key": "messages"},
    }


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *a):  # the default prints the request line, query (To=...) included
        pass

    def reply(self, status: int, doc) -> None:
        body = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        print(f"{self.command} {urllib.parse.urlsplit(self.path).path}: {status}", flush=True)

    def do_GET(self):
        parts = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(parts.query, keep_blank_values=True))
        if parts.path == "/_messages":
            with lock:
                self.reply(200, {"messages": [{k: v for k, v in m.items()} for m in messages]})
            return
        match = MESSAGES.match(parts.path)
        if not match:
            self.reply(404, error_json(20404, 404, "The requested resource was not found"))
            return
        account = match.group(1)
        with lock:
            found = [m for m in messages if m["account"] == account
                     and ("To" not in query or query["To"] == m["to"])
                     and ("From" not in query or query["From"] == m["from"])
                     and all(sent_matches(m["sent"], k, v) for k, v in query.items() if k.startswith("DateSent"))]
        found.sort(key=lambda m: m["sent"], reverse=True)
        self.reply(200, page_json(account, query, found))

    def do_POST(self):
        length = int(self.headers.get("content-length") or 0)
        form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode(), keep_blank_values=True))
        match = MESSAGES.match(urllib.parse.urlsplit(self.path).path)
        if not match:
            self.reply(404, error_json(20404, 404, "The requested resource was not found"))
            return
        if not form.get("To"):
            self.reply(400, error_json(21604, 400, "A 'To' phone number is required."))
            return
        if not form.get("From") and not form.get("MessagingServiceSid"):
            self.reply(400, error_json(21603, 400, "A 'From' phone number is required."))
            return
        if not form.get("Body"):
            self.reply(400, error_json(21602, 400, "Message body is required."))
            return
        with lock:
            m = {"sid": "SM" + secrets.token_hex(16), "account": match.group(1), "to": form["To"], "from": form.get("From"),
                 "messaging_service_sid": form.get("MessagingServiceSid"), "body": form["Body"],
                 "status_callback": form.get("StatusCallback"), "sent": time.time(),
                 "basic_auth": (self.headers.get("authorization") or "").startswith("Basic ")}
            messages.append(m)
        self.reply(201, message_json(m))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--listen", type=int, required=True)
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.listen), Handler)
    server.daemon_threads = True
    print(f"fake Twilio Messaging on 127.0.0.1:{args.listen}", flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
