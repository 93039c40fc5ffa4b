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
pass() { echo "PASS: $*"; passed=$((passed + 1)); }
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }
die() {
  echo "FAIL: $*"
  failed=$((failed + 1))
  echo "$passed passed, $failed failed"
  exit 1
}
step() { echo; echo "== $*"; }

case "$part" in harness | convene | all) ;; *) die "LIVEKIT_E2E_PART must be harness, convene or all (not '$part')" ;; esac

# ================================================================ outside the namespace: prerequisites
if [[ "${LIVEKIT_E2E_IN_NETNS:-}" != 1 ]]; then
  started=$(date +%s)
  step "prerequisites (part: $part)"
  [[ "$(id -u)" == 0 ]] || die "needs root: it makes a private network namespace with unshare -n"
  command -v unshare >/dev/null && command -v ip >/dev/null || die "unshare and ip (util-linux, iproute2) are needed"
  mkdir -p "$logs"
  rm -f "$logs"/*.log

  if [[ ! -x "$venv/bin/python" ]]; then
    python3 -m venv "$venv" >"$logs/venv.log" 2>&1 || die "could not create $venv (see $logs/venv.log)"
  fi
  pip=("$venv/bin/python" -m pip -q --disable-pip-version-check)
  if ! "$venv/bin/python" -c 'import importlib.metadata as m, sys; sys.exit(not (m.version("livekit") == "1.2.1" and m.version("livekit-api") == "1.2.2"))' 2>/dev/null; then
    echo "installing livekit==1.2.1 livekit-api==1.2.2 (pip)"
    "${pip[@]}" install livekit==1.2.1 livekit-api==1.2.2 >"$logs/pip.log" 2>&1 || die "pip install failed (see $logs/pip.log)"
  fi
  if [[ "$part" != harness ]]; then
    [[ -d "$root/proto/target/proto-imports/buf" ]] \
      || die "no proto/target/proto-imports: run 'mvn -pl proto generate-resources' once (the Python client's build needs it)"
    # Reinstalled only when the contract or the client's sources changed since the last install.
    client_sum="$(cd "$root" && find proto/src/main/proto client-stubs/python -type f \( -name '*.proto' -o -name '*.py' -o -name '*.toml' \) \
      -not -path '*/src/convene/v1/*' -not -path '*/build/*' -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)"
    if [[ "$(cat "$venv/.convene-client.sum" 2>/dev/null)" != "$client_sum" ]] || ! "$venv/bin/python" -c 'import convene.v1.token_service_pb2' 2>/dev/null; then
      echo "installing the Convene Python client from client-stubs/python (pip)"
      "${pip[@]}" install --force-reinstall --no-deps "$root/client-stubs/python" >>"$logs/pip.log" 2>&1 \
        && "${pip[@]}" install "$root/client-stubs/python" >>"$logs/pip.log" 2>&1 \
        || die "pip install client-stubs/python failed (see $logs/pip.log)"
      echo "$client_sum" >"$venv/.convene-client.sum"
    fi
    [[ -f "$jar" ]] || die "no server jar at $jar: build it first (mvn -pl server -am package -DskipTests)"
    command -v java >/dev/null || die "java not found"
  fi

  # The binary: the providers' helper script builds it once into a per-user cache.
  lk_script="$root/server/src/test/providers/livekit-server.sh"
  lk_cached="${XDG_CACHE_HOME:-$HOME/.cache}/convene/livekit-server-v1.13.5/livekit-server"
  if [[ -x "$lk_script" ]]; then
    lk_bin="$("$lk_script" 2>"$logs/livekit-build.log")" || die "livekit-server.sh failed (see $logs/livekit-build.log)"
  elif [[ -x "$lk_cached" ]]; then
    lk_bin="$lk_cached"
  else
    die "no livekit-server: $lk_script is missing and nothing is cached at $lk_cached"
  fi
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
cleanup() {
  local status=$?
  set +e
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill -TERM "${pids[i]}" 2>/dev/null; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -KILL "$pid" 2>/dev/null
  done
  if [[ -n "$tmp" && -f "$tmp/pg/postmaster.pid" ]]; then  # the embedded PostgreSQL, if the server left it
    local pg
    pg="$(head -n 1 "$tmp/pg/postmaster.pid" 2>/dev/null)"
    [[ "$pg" =~ ^[0-9]+$ ]] && kill -TERM "$pg" 2>/dev/null && sleep 2 && kill -KILL "$pg" 2>/dev/null
  fi
  [[ -n "$tmp" ]] && rm -rf "$tmp"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_for() { # seconds command...
  local seconds="$1"; shift
  local end=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS >= end)) && return 1
    sleep 0.2
  done
}

step "network namespace"
ip link set lo up
ip link add lkv0 type veth peer name lkv1
sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 \
  net.ipv6.conf.lkv0.disable_ipv6=1 net.ipv6.conf.lkv1.disable_ipv6=1
ip addr add 127.0.0.2/32 dev lkv0
ip link set lkv0 up
ip link set lkv1 up
addrs="$(ip -o -4 addr show | awk '{print $2 "=" $4}' | tr '\n' ' ')"
routes="$(ip route show table main | wc -l)"
if [[ "$addrs" == *"lo=127.0.0.1/8"* && "$addrs" == *"lkv0=127.0.0.2/32"* && "$routes" == 0 ]] \
   && ! ip -6 addr show | grep -q inet6; then
  pass "private network namespace: lo 127.0.0.1, veth lkv0 127.0.0.2/32, IPv6 off, no route out"
else
  die "namespace not as expected: $addrs; $routes routes; $(ip -6 addr show | grep -c inet6) IPv6 addresses"
fi

tmp="$(mktemp -d /tmp/convene-livekit-e2e.XXXXXX)"
free_ports() { # count
  "$py" - "$1" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
}
read -r lk_port lk_tcp convene_port pg_port <<<"$(free_ports 4)"

# ---------------------------------------------------------------- livekit-server
step "livekit-server"
export LK_API_KEY="e2e$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
LK_API_SECRET="$("$py" -c 'import secrets; print(secrets.token_urlsafe(36))')"  # 48 characters
export LK_API_SECRET
export LK_URL="http://127.0.0.1:$lk_port"
export REDACT_ENV=LK_API_SECRET
umask 077
cat >"$tmp/livekit.yaml" <<EOF
port: $lk_port
bind_addresses: [127.0.0.1]
keys:
  $LK_API_KEY: $LK_API_SECRET
rtc:
  tcp_port: $lk_tcp
  port_range_start: 50000
  port_range_end: 50020
  use_external_ip: false
  node_ip: 127.0.0.1
  enable_loopback_candidate: true
  interfaces:
    includes: [lo]
  stun_servers: [127.0.0.1:3478]
turn:
  enabled: false
room:
  auto_create: false
  empty_timeout: 120
  departure_timeout: 2
logging:
  level: info
EOF
umask 022
lk_started=$SECONDS
"$lk_bin" --config "$tmp/livekit.yaml" > >("$py" "$here/redact.py" >"$logs/livekit-server.log") 2>&1 &
pids+=("$!")
lk_pid=$!
lk_ready() { "$py" -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('$LK_URL/', timeout=1).read().strip() != b'OK')"; }
wait_for 30 lk_ready || die "livekit-server did not answer OK on $LK_URL within 30 s (see $logs/livekit-server.log)"
pass "livekit-server on $LK_URL (RTC TCP $lk_tcp, UDP 50000-50020, auto_create off, ${#LK_API_SECRET}-char secret) ready in $((SECONDS - lk_started)) s"

# ---------------------------------------------------------------- Convene
if [[ "$part" != harness ]]; then
  step "Convene server (embedded PostgreSQL in a temp dir)"
  cv_started=$SECONDS
  rm -f "$out/convene-server.masked.json"
  CONVENE_GRPC_PORT="$convene_port" CONVENE_EMBEDDED_PORT="$pg_port" CONVENE_EMBEDDED_DATA_DIR="$tmp/pg" \
    CONVENE_DRAIN_DELAY=PT0S java -jar "$jar" > >("$py" "$here/redact.py" --capture-key "$tmp/dev-key" --counts "$out/convene-server.masked.json" \
      >"$logs/convene-server.log") 2>&1 &
  pids+=("$!")
  serving() {
    "$py" - "127.0.0.1:$convene_port" <<'PY'
import grpc, sys
with grpc.insecure_channel(sys.argv[1]) as ch:
    # grpc.health.v1.Health/Check with an empty request; SERVING is field 1 = 1.
    sys.exit(ch.unary_unary("/grpc.health.v1.Health/Check")(b"", timeout=2) != b"\x08\x01")
PY
  }
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
set +e
"$py" -u "$here/scenario.py" --part "$part" 2> >("$py" "$here/redact.py" >"$logs/scenario-stderr.log") \
  | "$py" "$here/redact.py" | tee "$logs/scenario.log"
scenario_status=${PIPESTATUS[0]}
set -e
s_pass=$(grep -c '^PASS: ' "$logs/scenario.log" || true)
s_fail=$(grep -c '^FAIL: ' "$logs/scenario.log" || true)
passed=$((passed + s_pass))
failed=$((failed + s_fail))
if ((scenario_status != 0 && s_fail == 0)); then
  fail "scenario.py exited with $scenario_status (see $logs/scenario-stderr.log)"
fi

# Everything the run wrote stays free of the secrets it used.
leaks=0
for f in "$logs"/*.log; do
  grep -qF "$LK_API_SECRET" "$f" && { echo "   secret found in $f"; leaks=$((leaks + 1)); }
  [[ -n "${CONVENE_API_KEY:-}" ]] && grep -qF "$CONVENE_API_KEY" "$f" && { echo "   API key found in $f"; leaks=$((leaks + 1)); }
  grep -qE 'eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.' "$f" && { echo "   a JWT found in $f"; leaks=$((leaks + 1)); }
done
if ((leaks == 0)); then pass "no secret, API key or JWT in out/logs ($(ls "$logs"/*.log | wc -l) logs)"; else fail "$leaks logs hold secrets"; fi

echo
echo "took $(($(date +%s) - started)) s in all"
echo "$passed passed, $failed failed"
((failed == 0))
