#!/usr/bin/env python3
"""Copies stdin to stdout line by line with secrets masked: JWTs, Convene API keys (cvk_...) and the
literal values named by the environment variables listed in REDACT_ENV (comma-separated).

With --counts FILE, how many of each it masked is kept in FILE (rewritten on every change), so a
test can tell that a program printed no secret even though the log cannot show one.

With --capture-key FILE, the first Convene API key seen (the dev key the server prints on its
first start) is written to FILE (mode 0600) before it is masked, so the test can use it without
it ever reaching a log.
"""

import argparse
import json
import os
import re
import sys

JWT = re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
API_KEY = re.compile(r"cvk_[A-Za-z0-9_-]+")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--capture-key", help="write the first cvk_ key seen to this file")
    parser.add_argument("--counts", help="keep the counts of masked JWTs, API keys and literals in this file")
    args = parser.parse_args()
    counts = {"jwt": 0, "api_key": 0, "literal": 0}
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
        before = dict(counts)
        line, n = JWT.subn("<jwt>", line)
        counts["jwt"] += n
        line, n = API_KEY.subn("cvk_<redacted>", line)
        counts["api_key"] += n
        for literal in literals:
            counts["literal"] += line.count(literal)
            line = line.replace(literal, "<secret>")
        if args.counts and counts != before:
            with open(args.counts + ".tmp", "w") as f:
                json.dump(counts, f)
            os.replace(args.counts + ".tmp", args.counts)
        sys.stdout.write(line)
        sys.stdout.flush()


if __name__ == "__main__":
    main()
