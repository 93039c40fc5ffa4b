# Shared by the end-to-end tests that run a real livekit-server with real participants inside a
# private network namespace (server/src/test/livekit-e2e/run.sh, envoy/e2e/call/run.sh). Source it;
# it defines functions only. The caller defines pass/die, the arrays and paths named below, and
# `pids` (processes to stop on exit, in start order) and `tmp` (a directory removed on exit).
# See /work/shared/LIVEKIT.md for why the namespace and its veth are needed.

lk_lib_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# PASS/FAIL lines, counted in `passed` and `failed` (the caller sets both before sourcing).
pass() { echo "PASS: $*"; passed=$((passed + 1)); }
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }
die() {
  echo "FAIL: $*"
  failed=$((failed + 1))
  echo "$passed passed, $failed failed"
  exit 1
}
step() { echo; echo "== $*"; }

# lk_grpc_serving PYTHON HOST:PORT: whether grpc.health.v1.Health/Check answers SERVING.
lk_grpc_serving() {
  "$1" - "$2" <<'PY'
import grpc, sys
with grpc.insecure_channel(sys.argv[1]) as ch:
    # grpc.health.v1.Health/Check with an empty request; SERVING is field 1 = 1.
    sys.exit(ch.unary_unary("/grpc.health.v1.Health/Check")(b"", timeout=2) != b"\x08\x01")
PY
}

# lk_run_scenario PYTHON LOG_DIR COMMAND...: runs COMMAND with its output masked by redact.py
# (stdout shown and kept in scenario.log, stderr in scenario-stderr.log) and adds its PASS/FAIL
# lines to the counts; a non-zero exit without a FAIL line counts as one.
lk_run_scenario() {
  local py="$1" dir="$2"; shift 2
  local status s_pass s_fail
  set +e
  "$@" 2> >("$py" "$lk_lib_dir/redact.py" >"$dir/scenario-stderr.log") | "$py" "$lk_lib_dir/redact.py" | tee "$dir/scenario.log"
  status=${PIPESTATUS[0]}
  set -e
  s_pass=$(grep -c '^PASS: ' "$dir/scenario.log" || true)
  s_fail=$(grep -c '^FAIL: ' "$dir/scenario.log" || true)
  passed=$((passed + s_pass))
  failed=$((failed + s_fail))
  if ((status != 0 && s_fail == 0)); then
    fail "the scenario exited with $status (see $dir/scenario-stderr.log)"
  fi
}

# lk_check_logs LOG_DIR EXTRA_REGEX VARIABLE...: no log in LOG_DIR holds the value of a named
# variable, a JWT, or (if not empty) a match of EXTRA_REGEX; one PASS or FAIL line.
lk_check_logs() {
  local dir="$1" extra="$2"; shift 2
  local leaks=0 f name
  for f in "$dir"/*.log; do
    for name in "$@"; do
      [[ -n "${!name:-}" ]] && grep -qF "${!name}" "$f" && { echo "   $name found in $f"; leaks=$((leaks + 1)); }
    done
    grep -qE 'eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.' "$f" && { echo "   a JWT found in $f"; leaks=$((leaks + 1)); }
    [[ -n "$extra" ]] && grep -qE "$extra" "$f" && { echo "   /$extra/ found in $f"; leaks=$((leaks + 1)); }
  done
  if ((leaks == 0)); then
    pass "no secret, API key or JWT${extra:+ or access code} in ${dir#"$root"/} ($(ls "$dir"/*.log | wc -l) logs)"
  else
    fail "$leaks logs hold secrets"
  fi
}
LK_SERVER_VERSION=v1.13.5

# lk_venv VENV LOG: a venv with livekit==1.2.1 and livekit-api==1.2.2 (created or completed).
lk_venv() {
  local venv="$1" log="$2"
  if [[ ! -x "$venv/bin/python" ]]; then
    python3 -m venv "$venv" >>"$log" 2>&1 || die "could not create $venv (see $log)"
  fi
  if ! "$venv/bin/python" -c 'import importlib.metadata as m, sys; sys.exit(not (m.version("livekit") == "1.2.1" and m.version("livekit-api") == "1.2.2"))' 2>/dev/null; then
    echo "installing livekit==1.2.1 livekit-api==1.2.2 (pip)"
    "$venv/bin/python" -m pip -q --disable-pip-version-check install livekit==1.2.1 livekit-api==1.2.2 >>"$log" 2>&1 \
      || die "pip install failed (see $log)"
  fi
}

# lk_convene_client ROOT VENV LOG: the Convene Python client in VENV, reinstalled only when the
# contract or the client's sources changed since the last install.
lk_convene_client() {
  local root="$1" venv="$2" log="$3" sum
  [[ -d "$root/proto/target/proto-imports/buf" ]] \
    || die "no proto/target/proto-imports: run 'mvn -pl proto generate-resources' once (the Python client's build needs it)"
  sum="$(cd "$root" && find proto/src/main/proto client-stubs/python -type f \( -name '*.proto' -o -name '*.py' -o -name '*.toml' \) \
    -not -path '*/src/convene/v1/*' -not -path '*/build/*' -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)"
  if [[ "$(cat "$venv/.convene-client.sum" 2>/dev/null)" != "$sum" ]] || ! "$venv/bin/python" -c 'import convene.v1.token_service_pb2' 2>/dev/null; then
    echo "installing the Convene Python client from client-stubs/python (pip)"
    local pip=("$venv/bin/python" -m pip -q --disable-pip-version-check)
    "${pip[@]}" install --force-reinstall --no-deps "$root/client-stubs/python" >>"$log" 2>&1 \
      && "${pip[@]}" install "$root/client-stubs/python" >>"$log" 2>&1 \
      || die "pip install client-stubs/python failed (see $log)"
    echo "$sum" >"$venv/.convene-client.sum"
  fi
}

# lk_server_binary ROOT LOG: prints the livekit-server binary's path (built once into a per-user
# cache by server/src/test/providers/livekit-server.sh); says why on stderr and fails if none.
lk_server_binary() {
  local root="$1" log="$2"
  local script="$root/server/src/test/providers/livekit-server.sh"
  local cached="${XDG_CACHE_HOME:-$HOME/.cache}/convene/livekit-server-$LK_SERVER_VERSION/livekit-server"
  if [[ -x "$script" ]]; then
    "$script" 2>"$log" || { echo "livekit-server.sh failed (see $log)" >&2; return 1; }
  elif [[ -x "$cached" ]]; then
    echo "$cached"
  else
    echo "no livekit-server: $script is missing and nothing is cached at $cached" >&2
    return 1
  fi
}

# lk_require_netns_tools: root, unshare and ip.
lk_require_netns_tools() {
  [[ "$(id -u)" == 0 ]] || die "needs root: it makes a private network namespace with unshare -n"
  command -v unshare >/dev/null && command -v ip >/dev/null || die "unshare and ip (util-linux, iproute2) are needed"
}

# lk_netns_setup: inside the new namespace, lo up and a veth pair with 127.0.0.2/32 and IPv6 off;
# PASS if the namespace has exactly that and no route out, else die.
lk_netns_setup() {
  ip link set lo up
  ip link add lkv0 type veth peer name lkv1
  sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 \
    net.ipv6.conf.lkv0.disable_ipv6=1 net.ipv6.conf.lkv1.disable_ipv6=1
  ip addr add 127.0.0.2/32 dev lkv0
  ip link set lkv0 up
  ip link set lkv1 up
  local addrs routes
  addrs="$(ip -o -4 addr show | awk '{print $2 "=" $4}' | tr '\n' ' ')"
  routes="$(ip route show table main | wc -l)"
  if [[ "$addrs" == *"lo=127.0.0.1/8"* && "$addrs" == *"lkv0=127.0.0.2/32"* && "$routes" == 0 ]] \
     && ! ip -6 addr show | grep -q inet6; then
    pass "private network namespace: lo 127.0.0.1, veth lkv0 127.0.0.2/32, IPv6 off, no route out"
  else
    die "namespace not as expected: $addrs; $routes routes; $(ip -6 addr show | grep -c inet6) IPv6 addresses"
  fi
}

# lk_cleanup: stops `pids` newest first (TERM, then KILL after 20 s), an embedded PostgreSQL left
# in $tmp/pg, and removes $tmp. For `trap lk_cleanup EXIT`.
lk_cleanup() {
  local status=$?
  set +e
  local i pid pg
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill -TERM "${pids[i]}" 2>/dev/null; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -KILL "$pid" 2>/dev/null
  done
  if [[ -n "$tmp" && -f "$tmp/pg/postmaster.pid" ]]; then  # the embedded PostgreSQL, if the server left it
    pg="$(head -n 1 "$tmp/pg/postmaster.pid" 2>/dev/null)"
    [[ "$pg" =~ ^[0-9]+$ ]] && kill -TERM "$pg" 2>/dev/null && sleep 2 && kill -KILL "$pg" 2>/dev/null
  fi
  [[ -n "$tmp" ]] && rm -rf "$tmp"
  exit "$status"
}

# lk_wait_for SECONDS COMMAND...: until COMMAND succeeds (every 0.2 s); 1 if it never did.
lk_wait_for() {
  local seconds="$1"; shift
  local end=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS >= end)) && return 1
    sleep 0.2
  done
}

# lk_free_ports PYTHON COUNT: COUNT free loopback TCP ports.
lk_free_ports() {
  "$1" - "$2" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
}

# lk_start_server BIN PYTHON DIR LOG PORT TCP_PORT [WEBHOOK_URL]: starts livekit-server on
# 127.0.0.1:PORT (RTC TCP TCP_PORT, UDP 50000-50020, auto_create off, departure_timeout 2 s) with a
# fresh random key and 48-character secret, exported as LK_API_KEY / LK_API_SECRET with LK_URL;
# its output goes through redact.py into LOG. With WEBHOOK_URL, LiveKit signs and posts its
# webhooks there. Waits until it answers OK (sets lk_pid) and prints a PASS line.
lk_start_server() {
  local bin="$1" py="$2" dir="$3" log="$4" port="$5" tcp="$6" webhook="${7:-}"
  export LK_API_KEY="e2e$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
  LK_API_SECRET="$("$py" -c 'import secrets; print(secrets.token_urlsafe(36))')"  # 48 characters
  export LK_API_SECRET
  export LK_URL="http://127.0.0.1:$port"
  export REDACT_ENV="${REDACT_ENV:+$REDACT_ENV,}LK_API_SECRET"
  local webhook_yaml=""
  [[ -n "$webhook" ]] && webhook_yaml="webhook:
  api_key: $LK_API_KEY
  urls: [\"$webhook\"]"
  (
    umask 077
    cat >"$dir/livekit.yaml" <<EOF
port: $port
bind_addresses: [127.0.0.1]
keys:
  $LK_API_KEY: $LK_API_SECRET
rtc:
  tcp_port: $tcp
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
$webhook_yaml
logging:
  level: info
EOF
  )
  local started=$SECONDS
  "$bin" --config "$dir/livekit.yaml" > >("$py" "$lk_lib_dir/redact.py" >"$log") 2>&1 &
  pids+=("$!")
  lk_pid=$!
  lk_ready() { "$py" -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('$LK_URL/', timeout=1).read().strip() != b'OK')"; }
  lk_wait_for 30 lk_ready || die "livekit-server did not answer OK on $LK_URL within 30 s (see $log)"
  pass "livekit-server on $LK_URL (RTC TCP $tcp, UDP 50000-50020, auto_create off, ${#LK_API_SECRET}-char secret${webhook:+, webhooks to ${webhook%/*}/<tenant>}) ready in $((SECONDS - started)) s"
}
