#!/usr/bin/env python3
"""Copies stdin to stdout line by line with secrets masked: JWTs, Convene API keys (cvk_...) and the
literal values named by the environment variables listed in REDACT_ENV (comma-separated).

With --capture-key FILE, the first Convene API key seen (the dev key the server prints on its
first start) is written to FILE (mode 0600) before it is masked, so the test can use it without
it ever reaching a log.
"""

import argparse
import os
import re
import sys

JWT = re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
API_KEY = re.compile(r"cvk_[A-Za-z0-9_-]+")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--capture-key", help="write the first cvk_ key seen to this file")
    args = parser.parse_args()
    literals = [os.environ[name] for name in os.environ.get("REDACT_ENV", "").split(",") if os.environ.get(name)]
    captured = False
    for line in sys.stdin:
        if args.capture_key and not captured:
            found = API_KEY.search(line)
            if found:
                fd = os.open(args.capture_key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "w") as f:
                    f.write(found.group(0))
                captured = True
        line = JWT.sub("<jwt>", line)
        line = API_KEY.sub("cvk_<redacted>", line)
        for literal in literals:
            line = line.replace(literal, "<secret>")
        sys.stdout.write(line)
        sys.stdout.flush()


if __name__ == "__main__":
    main()
