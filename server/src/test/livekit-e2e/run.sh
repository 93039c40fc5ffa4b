#!/usr/bin/env bash
# LiveKit end to end: a real livekit-server and real participants (Python livekit SDK), all inside a
# private network namespace this script makes for itself (see /work/shared/LIVEKIT.md: WebRTC does
# not gather candidates on loopback-flagged interfaces, so a veth with 127.0.0.2 is added).
#
#   LIVEKIT_E2E_PART=harness   tokens minted with livekit-api only (no Convene server needed)
#   LIVEKIT_E2E_PART=convene   the Convene-driven scenario only
#   LIVEKIT_E2E_PART=all       both (default)
#
# Outside the namespace (network needed): a venv in out/venv with livekit==1.2.1, livekit-api==1.2.2 and
# the Convene Python client; the livekit-server binary (server/src/test/providers/livekit-server.sh, or
# its cached copy). Then it re-executes itself under `unshare -n` (needs root) and there: lo up, a veth
# pair with 127.0.0.2/32 and IPv6 off, livekit-server on 127.0.0.1, the Convene server jar
# (server/target/convene-server.jar, embedded PostgreSQL in a temp dir; its first start prints the dev
# tenant's key, captured to a 0600 file and masked in the log), then scenario.py.
# Prints PASS/FAIL lines and "N passed, M failed"; exits non-zero on any failure. Logs in out/logs.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../../.." && pwd)"
out="$here/out"
logs="$out/logs"
venv="$out/venv"
jar="$root/server/target/convene-server.jar"
part="${LIVEKIT_E2E_PART:-all}"
wait_s=${LIVEKIT_E2E_WAIT_SECONDS:-90}

passed=${LIVEKIT_E2E_PASSED:-0}
failed=${LIVEKIT_E2E_FAILED:-0}
# shellcheck source=lib.sh
source "$here/lib.sh"

case "$part" in harness | convene | all) ;; *) die "LIVEKIT_E2E_PART must be harness, convene or all (not '$part')" ;; esac

# ================================================================ outside the namespace: prerequisites
if [[ "${LIVEKIT_E2E_IN_NETNS:-}" != 1 ]]; then
  started=$(date +%s)
  step "prerequisites (part: $part)"
  lk_require_netns_tools
  mkdir -p "$logs"
  rm -f "$logs"/*.log

  lk_venv "$venv" "$logs/pip.log"
  if [[ "$part" != harness ]]; then
    lk_convene_client "$root" "$venv" "$logs/pip.log"
    [[ -f "$jar" ]] || die "no server jar at $jar: build it first (mvn -pl server -am package -DskipTests)"
    command -v java >/dev/null || die "java not found"
  fi

  lk_bin="$(lk_server_binary "$root" "$logs/livekit-build.log")" || die "no livekit-server binary"
  lk_version="$("$lk_bin" --version 2>/dev/null | head -n 1)"
  pass "prerequisites ready in $(($(date +%s) - started)) s: $lk_version, livekit $("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("livekit"), "/ livekit-api", m.version("livekit-api"))')"

  exec unshare -n -- env LIVEKIT_E2E_IN_NETNS=1 LIVEKIT_SERVER_BIN="$lk_bin" \
    LIVEKIT_E2E_PASSED="$passed" LIVEKIT_E2E_FAILED="$failed" LIVEKIT_E2E_STARTED="$started" "$0" "$@"
fi

# ================================================================ inside the namespace
started=${LIVEKIT_E2E_STARTED:-$(date +%s)}
lk_bin="$LIVEKIT_SERVER_BIN"
py="$venv/bin/python"

pids=()
tmp=""
trap lk_cleanup EXIT
trap 'exit 130' INT TERM

wait_for() { lk_wait_for "$@"; }

step "network namespace"
lk_netns_setup

tmp="$(mktemp -d /tmp/convene-livekit-e2e.XXXXXX)"
read -r lk_port lk_tcp convene_port pg_port <<<"$(lk_free_ports "$py" 4)"

# ---------------------------------------------------------------- livekit-server
step "livekit-server"
lk_start_server "$lk_bin" "$py" "$tmp" "$logs/livekit-server.log" "$lk_port" "$lk_tcp"

# ---------------------------------------------------------------- Convene
if [[ "$part" != harness ]]; then
  step "Convene server (embedded PostgreSQL in a temp dir)"
  cv_started=$SECONDS
  rm -f "$out/convene-server.masked.json"
  CONVENE_GRPC_PORT="$convene_port" CONVENE_EMBEDDED_PORT="$pg_port" CONVENE_EMBEDDED_DATA_DIR="$tmp/pg" \
    CONVENE_DRAIN_DELAY=PT0S CONVENE_METRICS_PORT=0 java -jar "$jar" > >("$py" "$here/redact.py" --capture-key "$tmp/dev-key" --counts "$out/convene-server.masked.json" \
      >"$logs/convene-server.log") 2>&1 &
  pids+=("$!")
  serving() { lk_grpc_serving "$py" "127.0.0.1:$convene_port"; }
  wait_for "$wait_s" serving || die "Convene not SERVING on 127.0.0.1:$convene_port within ${wait_s} s (see $logs/convene-server.log)"
  wait_for 10 test -s "$tmp/dev-key" || die "the server's first start printed no dev API key (see $logs/convene-server.log)"
  export CONVENE_TARGET="127.0.0.1:$convene_port"
  export CONVENE_LOG="$logs/convene-server.log" CONVENE_LOG_MASKED="$out/convene-server.masked.json"
  CONVENE_API_KEY="$(cat "$tmp/dev-key")"
  export CONVENE_API_KEY
  export REDACT_ENV=LK_API_SECRET,CONVENE_API_KEY
  pass "Convene serving on $CONVENE_TARGET in $((SECONDS - cv_started)) s; its first start printed the dev tenant's key (${#CONVENE_API_KEY} chars, kept out of the log)"
fi

# ---------------------------------------------------------------- scenario
step "scenario.py --part $part"
lk_run_scenario "$py" "$logs" "$py" -u "$here/scenario.py" --part "$part"

# Everything the run wrote stays free of the secrets it used.
lk_check_logs "$logs" "" LK_API_SECRET CONVENE_API_KEY

echo
echo "took $(($(date +%s) - started)) s in all"
echo "$passed passed, $failed failed"
((failed == 0))
