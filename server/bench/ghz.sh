#!/usr/bin/env bash
# Load benchmark, as ratios against ceilings measured in the same run on the same machine:
#   - grpc.health.v1.Health/Check on the same server: the transport ceiling;
#   - GetSession, as a share of that ceiling (target >= 0.35);
#   - pgbench's single-row INSERT on the same PostgreSQL at the same concurrency;
#   - CreateSession (2-person roster), as a share of that (target >= 0.20);
#   - CreateSession's own transaction replayed by pgbench with no server (create-transaction.sql):
#     the most that ratio can be on this PostgreSQL, whatever the server costs;
#   - JoinSession/LeaveSession alternating on one contended session (every call changes state).
# The server runs on a fresh embedded PostgreSQL in its serving mode (fsync and synchronous_commit
# on), loopback only. With BENCH_JFR_DIR set, a JFR recording of each phase is written there and
# summarised (server/bench/jfr-summary.py).
# Usage: server/bench/ghz.sh [seconds per measurement, default 8] [concurrency, default 16]
# Env: JAR (default server/target/convene-server.jar), BENCH_JFR_DIR, BENCH_WARMUP (per call, default 20s),
#      BENCH_CREATE_WARMUP (CreateSession, default 60s),
#      JOIN_CALLS (JoinSession/LeaveSession calls, default 5000)
set -euo pipefail
cd "$(dirname "$0")/../.."
SECONDS_PER=${1:-8}
CONC=${2:-16}
GOBIN=$(go env GOPATH)/bin
command -v ghz >/dev/null || [ -x "$GOBIN/ghz" ] || go install github.com/bojand/ghz/cmd/ghz@v0.93.0
GHZ=$(command -v ghz || echo "$GOBIN/ghz")
command -v grpcurl >/dev/null || [ -x "$GOBIN/grpcurl" ] || go install github.com/fullstorydev/grpcurl/cmd/grpcurl@v1.9.3
GRPCURL=$(command -v grpcurl || echo "$GOBIN/grpcurl")
command -v pgbench >/dev/null || { echo "pgbench missing: apt-get install postgresql-client"; exit 1; }
source server/bench/serve.sh
bench_build

WORK=$(mktemp -d)
# JFR records from the server's start when asked: starting a recording in a warm JVM makes it
# deoptimise and recompile (the event classes are retransformed), so a recording started between
# phases profiles the interpreter, not the server. Each phase is cut out of it by time. Jdbi's own
# per-statement events are off: with them on, a recording costs the data layer a tenth.
BENCH_JAVA_OPTS=()
if [ -n "${BENCH_JFR_DIR:-}" ]; then
  mkdir -p "$BENCH_JFR_DIR"
  JAVA_HOME_DIR=$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")
  sed 's|</configuration>|  <event name="jdbi.statement"><setting name="enabled">false</setting></event>\n</configuration>|' \
    "$JAVA_HOME_DIR/lib/jfr/profile.jfc" > "$WORK/bench.jfc"
  BENCH_JAVA_OPTS=("-XX:StartFlightRecording=name=bench,settings=$WORK/bench.jfc")
fi
bench_serve
PSQL=(psql -h 127.0.0.1 -p "$PGPORT" -U postgres -X -q -t -A)
echo "PostgreSQL: fsync=$("${PSQL[@]}" -c 'SHOW fsync') synchronous_commit=$("${PSQL[@]}" -c 'SHOW synchronous_commit')"
COMMON=(--insecure --timeout=10s --duration-stop=ignore -c "$CONC" --metadata "{\"authorization\":\"Bearer $KEY\"}")

now_utc() { date -u +%Y-%m-%dT%H:%M:%S.%NZ; }
jfr_start() { [ -z "${BENCH_JFR_DIR:-}" ] || JFR_FROM=$(now_utc); }
jfr_stop() {
  [ -z "${BENCH_JFR_DIR:-}" ] && return 0
  local to; to=$(now_utc)
  jcmd "$SERVER" JFR.dump name=bench filename="$BENCH_JFR_DIR/server.jfr" > /dev/null
  python3 server/bench/jfr-summary.py "$BENCH_JFR_DIR/server.jfr" "$JFR_FROM" "$to" > "$BENCH_JFR_DIR/$1.txt"
  echo "   JFR: $BENCH_JFR_DIR/server.jfr, $1 phase $JFR_FROM to $to (summary $BENCH_JFR_DIR/$1.txt)"
}
# ghz: runs one call and prints "rps p50 p95 p99 ok total" from its JSON report.
run_ghz() {
  "$GHZ" "$@" -O json 2> "$WORK/ghz.err" | python3 -c '
import json, sys
r = json.load(sys.stdin)
lat = {int(d["percentage"]): d["latency"] / 1e6 for d in r.get("latencyDistribution") or []}
ok = (r.get("statusCodeDistribution") or {}).get("OK", 0)
print("%.0f %.1f %.1f %.1f %d %d" % (r["rps"], lat.get(50, 0), lat.get(95, 0), lat.get(99, 0), ok, r["count"]))'
}
row() { # name, "rps p50 p95 p99 ok total"
  read -r rps p50 p95 p99 ok total <<< "$2"
  printf '| %-44s | %8s | %7s ms | %7s ms | %7s ms | %s of %s OK |\n' "$1" "$rps" "$p50" "$p95" "$p99" "$ok" "$total"
}

# Warm the JIT on every path first (C2 needs tens of seconds on 2 cores), so each phase measures
# steady state rather than compilation.
WARM=${BENCH_WARMUP:-20s}
"$GHZ" "${COMMON[@]}" -z "$WARM" --call grpc.health.v1.Health/Check -d '{}' "127.0.0.1:$PORT" > /dev/null
CREATE='{
  "external_ref": "bench-{{.RequestNumber}}-{{.UUID}}", "media": "MEDIA_TYPE_VIDEO",
  "scheduled_start_time": "2030-01-01T10:00:00Z", "scheduled_end_time": "2030-01-01T10:30:00Z",
  "participants": [{"user_id": "dr", "role": "PARTICIPANT_ROLE_HOST"}, {"user_id": "pat", "role": "PARTICIPANT_ROLE_PARTICIPANT"}]
}'
# CreateSession's path (Jdbi, pgJDBC, protovalidate's CEL) keeps the C2 compiler busy for about a minute.
"$GHZ" "${COMMON[@]}" -z "${BENCH_CREATE_WARMUP:-60s}" --call convene.v1.SessionService/CreateSession -d "$CREATE" "127.0.0.1:$PORT" > /dev/null
SES=$("$GRPCURL" -plaintext -H "authorization: Bearer $KEY" -d '{"page_size": 1}' "127.0.0.1:$PORT" \
  convene.v1.SessionService/ListSessions | grep -o 'ses_[A-Za-z0-9]*' | head -1)
"$GHZ" "${COMMON[@]}" -z "$WARM" --call convene.v1.SessionService/GetSession -d "{\"session_id\": \"$SES\"}" "127.0.0.1:$PORT" > /dev/null

echo
echo "| call (${SECONDS_PER} s each, concurrency ${CONC}) | req/s | p50 | p95 | p99 | status |"
echo "|---|---|---|---|---|---|"
# This machine's throughput drifts by a third between runs, so the ceiling and the call it bounds
# are measured back to back, three times, and the ratio is the median of the three.
# One untimed alternation first: the health and session services share interceptors, so the JIT
# settles only after both have run in turn. The JFR summaries are of this pass.
jfr_start health
"$GHZ" "${COMMON[@]}" -z "${SECONDS_PER}s" --call grpc.health.v1.Health/Check -d '{}' "127.0.0.1:$PORT" > /dev/null
jfr_stop health
jfr_start get
"$GHZ" "${COMMON[@]}" -z "${SECONDS_PER}s" --call convene.v1.SessionService/GetSession -d "{\"session_id\": \"$SES\"}" "127.0.0.1:$PORT" > /dev/null
jfr_stop get
jfr_start create
"$GHZ" "${COMMON[@]}" -z "${SECONDS_PER}s" --call convene.v1.SessionService/CreateSession -d "$CREATE" "127.0.0.1:$PORT" > /dev/null
jfr_stop create
HEALTHS=(); GETS=()
for ROUND in 1 2 3; do
  HEALTH=$(run_ghz "${COMMON[@]}" -z "${SECONDS_PER}s" --call grpc.health.v1.Health/Check -d '{}' "127.0.0.1:$PORT")
  row "grpc.health.v1.Health/Check (ceiling), round $ROUND" "$HEALTH"
  GET=$(run_ghz "${COMMON[@]}" -z "${SECONDS_PER}s" --call convene.v1.SessionService/GetSession -d "{\"session_id\": \"$SES\"}" "127.0.0.1:$PORT")
  row "GetSession, round $ROUND" "$GET"
  HEALTHS+=("${HEALTH%% *}"); GETS+=("${GET%% *}")
done

# pgbench's single-row INSERT on the same PostgreSQL, same concurrency, around CreateSession.
"${PSQL[@]}" -c 'CREATE DATABASE pgbench_ceiling' > /dev/null
"${PSQL[@]}" -d pgbench_ceiling -c 'CREATE TABLE t (id bigserial PRIMARY KEY, v text NOT NULL)' > /dev/null
echo "INSERT INTO t (v) VALUES ('x');" > "$WORK/insert.sql"
pgbench_tps() {
  pgbench -n -h 127.0.0.1 -p "$PGPORT" -U postgres -c "$CONC" -j 2 -T "$SECONDS_PER" -f "$WORK/insert.sql" \
    pgbench_ceiling 2>&1 | sed -n 's/^tps = \([0-9.]*\).*/\1/p' | head -1
}
PGS=(); CREATES=()
for ROUND in 1 2 3; do
  PG=$(pgbench_tps)
  printf '| %-44s | %8.0f |\n' "pgbench single-row INSERT (ceiling), round $ROUND" "$PG"
  CREATED=$(run_ghz "${COMMON[@]}" -z "${SECONDS_PER}s" --call convene.v1.SessionService/CreateSession -d "$CREATE" "127.0.0.1:$PORT")
  row "CreateSession (2-person roster), round $ROUND" "$CREATED"
  PGS+=("$PG"); CREATES+=("${CREATED%% *}")
done

# The database's own bound on the CreateSession ratio: its statements, replayed by pgbench.
REPLAY=$(pgbench -n -M prepared -h 127.0.0.1 -p "$PGPORT" -U postgres -c "$CONC" -j 2 -T "$SECONDS_PER" \
  -f server/bench/create-transaction.sql postgres 2>&1 | sed -n 's/^tps = \([0-9.]*\).*/\1/p' | head -1)
printf '| %-44s | %8.0f |\n' "CreateSession's transaction in pgbench, no server" "$REPLAY"

# JoinSession/LeaveSession: one session whose roster has a user per worker.
ROSTER=$(python3 -c "import json;print(json.dumps([{'user_id':'u%d'%i,'role':'PARTICIPANT_ROLE_HOST' if i==0 else 'PARTICIPANT_ROLE_PARTICIPANT'} for i in range($CONC)]))")
JOIN_SES=$("$GRPCURL" -plaintext -H "authorization: Bearer $KEY" -d "{\"external_ref\": \"bench-join\", \"media\": \"MEDIA_TYPE_VIDEO\",
  \"scheduled_start_time\": \"2030-01-01T10:00:00Z\", \"scheduled_end_time\": \"2030-01-01T10:30:00Z\",
  \"participants\": $ROSTER}" "127.0.0.1:$PORT" convene.v1.SessionService/CreateSession | grep -o 'ses_[A-Za-z0-9]*' | head -1)
jfr_start join
java -cp "$(cat "$CLIENT_CP"):proto/target/classes" server/bench/JoinLeave.java "127.0.0.1:$PORT" "$KEY" "$JOIN_SES" "$CONC" "${JOIN_CALLS:-5000}" > /dev/null
jfr_stop join
JOIN=$(java -cp "$(cat "$CLIENT_CP"):proto/target/classes" server/bench/JoinLeave.java "127.0.0.1:$PORT" "$KEY" "$JOIN_SES" "$CONC" "${JOIN_CALLS:-5000}")
echo "$JOIN" | python3 -c '
import re, sys
line = sys.stdin.read()
v = dict(re.findall(r"(\w+) ([0-9.]+)", line))
print("| %-44s | %8s | %7s ms | %7s ms | %7s ms | %d errors |" % ("JoinSession/LeaveSession alternating, 1 session",
      v["rps"], v["p50"], v["p95"], v["p99"], int(v["errors"])))'

# IssueJoinToken beside Health/Check at the same concurrency: the Jitsi provider (tokens are minted
# locally, so this measures Convene, not a provider's network), on sessions whose join window is
# open; every call reads the roster under its session's lock and commits the TOKEN_ISSUED event.
"$GRPCURL" -plaintext -H "authorization: Bearer $KEY" -d '{"config": {"default": true, "jitsi": {"domain": "meet.example.org",
  "app_id": "convene", "app_secret": "bench-jitsi-secret-0123456789-abcdefgh"}}}' "127.0.0.1:$PORT" \
  convene.v1.ProviderConfigService/SetProviderConfig > /dev/null
NOW=$(date -u +%Y-%m-%dT%H:%M:%SZ); LATER=$(date -u -d '+2 hours' +%Y-%m-%dT%H:%M:%SZ)
# 64 sessions, asked in turn (ghz sends an array's messages round-robin): tokens are issued per
# participant of many visits, and one session's tokens queue on its row lock and its event log.
TOKEN_REQ="["
for i in $(seq 1 64); do
  TOK_SES=$("$GRPCURL" -plaintext -H "authorization: Bearer $KEY" -d "{\"external_ref\": \"bench-tokens-$i\",
    \"media\": \"MEDIA_TYPE_VIDEO\", \"scheduled_start_time\": \"$NOW\", \"scheduled_end_time\": \"$LATER\",
    \"participants\": [{\"user_id\": \"dr\", \"role\": \"PARTICIPANT_ROLE_HOST\"}]}" "127.0.0.1:$PORT" \
    convene.v1.SessionService/CreateSession | grep -o 'ses_[A-Za-z0-9]*' | head -1)
  TOKEN_REQ="$TOKEN_REQ$([ "$i" = 1 ] || echo ,){\"session_id\": \"$TOK_SES\", \"user_id\": \"dr\"}"
done
TOKEN_REQ="$TOKEN_REQ]"
"$GHZ" "${COMMON[@]}" -z "${BENCH_WARMUP:-20s}" --call convene.v1.TokenService/IssueJoinToken -d "$TOKEN_REQ" "127.0.0.1:$PORT" > /dev/null
TOK_HEALTH=$(run_ghz "${COMMON[@]}" -z "${SECONDS_PER}s" --call grpc.health.v1.Health/Check -d '{}' "127.0.0.1:$PORT")
row "grpc.health.v1.Health/Check (ceiling)" "$TOK_HEALTH"
TOKENS=$(run_ghz "${COMMON[@]}" -z "${SECONDS_PER}s" --call convene.v1.TokenService/IssueJoinToken -d "$TOKEN_REQ" "127.0.0.1:$PORT")
row "IssueJoinToken (Jitsi, 64 sessions in turn)" "$TOKENS"

echo
python3 - "${HEALTHS[*]}" "${GETS[*]}" "${PGS[*]}" "${CREATES[*]}" "$REPLAY" "${TOK_HEALTH%% *}" "${TOKENS%% *}" <<'PY'
import statistics, sys
health, get, pg, create = ([float(x) for x in a.split()] for a in sys.argv[1:5])
replay = float(sys.argv[5])
print("IssueJoinToken / Health/Check      = %.2f" % (float(sys.argv[7]) / float(sys.argv[6])))
g = statistics.median(b / a for a, b in zip(health, get))
c = statistics.median(b / a for a, b in zip(pg, create))
print("GetSession / Health/Check          = %.2f  (median of %s; target >= 0.35)"
      % (g, ", ".join("%.2f" % (b / a) for a, b in zip(health, get))))
print("CreateSession / pgbench INSERT TPS = %.3f (median of %s; target >= 0.20)"
      % (c, ", ".join("%.3f" % (b / a) for a, b in zip(pg, create))))
print("CreateSession's transaction in pgbench, no server / pgbench INSERT TPS = %.3f (the database's bound on the line above)"
      % (replay / statistics.median(pg)))
PY
