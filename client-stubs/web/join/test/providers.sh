#!/usr/bin/env bash
# `npm test`: builds the page, then runs test/providers.test.mjs (node's test runner) with no
# network but loopback: inside a private network namespace (unshare -n, lo up) when run as root
# with unshare and ip at hand, else as is. The test refuses every request to a host other than
# 127.0.0.1 and closes every WebSocket itself either way, so nothing leaves the machine; the
# namespace makes sure of it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
[[ -x "${CHROMIUM:-/usr/bin/chromium}" ]] || { echo "providers.sh: no chromium at ${CHROMIUM:-/usr/bin/chromium} (apt-get install chromium)" >&2; exit 1; }
if [[ "${JOIN_TEST_NETNS:-}" != 1 && $(id -u) == 0 ]] && command -v unshare >/dev/null && command -v ip >/dev/null \
   && unshare -n true 2>/dev/null; then
  exec unshare -n -- env JOIN_TEST_NETNS=1 bash -c 'ip link set lo up && exec node --test test/providers.test.mjs'
fi
echo "providers.sh: no private network namespace here; the test's own routes keep the browser on 127.0.0.1" >&2
exec node --test test/providers.test.mjs
