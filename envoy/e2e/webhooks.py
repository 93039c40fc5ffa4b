#!/usr/bin/env python3
"""Sends provider callbacks to Convene through Envoy, signed as Twilio and LiveKit sign them.

    webhooks.py <edge base URL> <tenant id> <public base URL> <livekit key> <livekit secret> <twilio auth token> <twilio account sid>

Prints one line per case: "<case> <HTTP status> <reason or response JSON>". Standard library only:
LiveKit's Authorization is a raw HS256 JWT whose sha256 claim is the body's hash; Twilio's
X-Twilio-Signature is base64 HMAC-SHA1 over the public URL and the sorted form parameters.
"""

import base64
import hashlib
import hmac
import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def livekit_jwt(key: str, secret: str, body: bytes) -> str:
    now = int(time.time())
    header = {"alg": "HS256", "typ": "JWT"}
    claims = {"iss": key, "nbf": now - 5, "iat": now, "exp": now + 300,
              "sha256": base64.b64encode(hashlib.sha256(body).digest()).decode()}
    signing = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
    sig = hmac.new(secret.encode(), signing.encode(), hashlib.sha256).digest()
    return signing + "." + b64url(sig)


def twilio_signature(token: str, url: str, params: dict) -> str:
    data = url + "".join(k + params[k] for k in sorted(params))
    return base64.b64encode(hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()).decode()


def post(url: str, body: bytes, headers: dict):
    req = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        text = e.read().decode()
        try:
            details = json.loads(text).get("details", [])
            reason = next((d.get("reason") for d in details if "reason" in d), text)
        except ValueError:
            reason = text
        return e.code, reason


def main():
    edge, tenant, public, lk_key, lk_secret, tw_token, tw_account = sys.argv[1:8]
    lk_url = f"{edge}/webhooks/livekit/{tenant}"
    event = {"event": "participant_joined", "room": {"sid": "RM_e2e", "name": "ses_NotAConveneRoom"},
             "participant": {"sid": "PA_e2e", "identity": "nobody"}, "id": f"EV_e2e{int(time.time())}",
             "createdAt": str(int(time.time()))}
    body = json.dumps(event).encode()
    ctype = {"content-type": "application/webhook+json"}
    cases = [
        ("livekit-unsigned", lk_url, body, ctype),
        ("livekit-forged", lk_url, body, {**ctype, "authorization": livekit_jwt(lk_key, "forged-" + lk_secret, body)}),
        ("livekit-signed", lk_url, body, {**ctype, "authorization": livekit_jwt(lk_key, lk_secret, body)}),
        ("livekit-repeat", lk_url, body, {**ctype, "authorization": livekit_jwt(lk_key, lk_secret, body)}),
    ]
    tw_path = f"/webhooks/twilio/{tenant}"
    params = {"AccountSid": tw_account, "RoomName": "ses_NotAConveneRoom", "RoomSid": "RM" + "0" * 32,
              "RoomStatus": "in-progress", "RoomType": "group", "StatusCallbackEvent": "room-created",
              "Timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "SequenceNumber": "0"}
    form = urllib.parse.urlencode(params).encode()
    fctype = {"content-type": "application/x-www-form-urlencoded"}
    cases += [
        ("twilio-internal-url", edge + tw_path, form,
         {**fctype, "x-twilio-signature": twilio_signature(tw_token, edge + tw_path, params)}),
        ("twilio-signed", edge + tw_path, form,
         {**fctype, "x-twilio-signature": twilio_signature(tw_token, public.rstrip("/") + tw_path, params)}),
    ]
    for name, url, data, headers in cases:
        status, text = post(url, data, headers)
        print(name, status, text.replace("\n", " "))


if __name__ == "__main__":
    main()
