#!/usr/bin/env python3
"""Verifies a Jitsi meeting token with PyJWT, independently of the Java code that signed it.

Reads one JSON object on stdin (the secret stays out of argv, which other processes can read):
  {"token": "...", "secret": "...", "app_id": "...", "expected": {claim: value, ...}}
Checks the signature (HS256 only), iss and aud (= app_id), that exp, nbf, iss, aud and room are
present, the header's typ, and that every expected claim equals the decoded one (nested objects
compared whole). Prints {"ok": bool, "header": {...}, "claims": {...}, "errors": [...]} and exits
0 when ok, 1 when not, 2 on unusable input.
"""
import json
import sys

import jwt


def main() -> int:
    try:
        request = json.load(sys.stdin)
        token, secret, app_id = request["token"], request["secret"], request["app_id"]
        expected = request.get("expected", {})
    except (ValueError, KeyError) as e:
        print(json.dumps({"ok": False, "errors": [f"bad input: {e!r}"]}))
        return 2

    errors = []
    header, claims = {}, {}
    try:
        header = jwt.get_unverified_header(token)
        claims = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            audience=app_id,
            issuer=app_id,
            options={"require": ["exp", "nbf", "iss", "aud", "room"]},
        )
    except jwt.PyJWTError as e:
        errors.append(f"{type(e).__name__}: {e}")

    if header and header.get("typ") != "JWT":
        errors.append(f"header typ is {header.get('typ')!r}, Prosody wants 'JWT'")
    if claims:
        for name, value in expected.items():
            if claims.get(name) != value:
                errors.append(f"claim {name}: expected {value!r}, got {claims.get(name)!r}")

    print(json.dumps({"ok": not errors, "header": header, "claims": claims, "errors": errors}))
    return 0 if not errors else 1


if __name__ == "__main__":
    sys.exit(main())
