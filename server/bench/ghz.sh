#!/usr/bin/env bash
# Load benchmark: starts the built server on a fresh embedded database (loopback only) and drives
# CreateSession, GetSession and JoinSession/LeaveSession with ghz, printing its summaries.
# Usage: server/bench/ghz.sh [total requests per RPC, default 5000] [concurrency, default 16]
set -euo pipefail
cd "$(dirname "$0")/../.."
TOTAL=${1:-5000}
CONC=${2:-16}
GOBIN=$(go env GOPATH)/bin
command -v ghz >/dev/null || [ -x "$GOBIN/ghz" ] || go install github.com/bojand/ghz/cmd/ghz@v0.93.0
GHZ=$(command -v ghz || echo "$GOBIN/ghz")
command -v grpcurl >/dev/null || [ -x "$GOBIN/grpcurl" ] || go install github.com/fullstorydev/grpcurl/cmd/grpcurl@v1.9.3
GRPCURL=$(command -v grpcurl || echo "$GOBIN/grpcurl")
JAR=server/target/convene-server.jar
[ -f "$JAR" ] || mvn -B -q -DskipTests package

WORK=$(mktemp -d)
PORT=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
PGPORT=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
CONVENE_GRPC_PORT=$PORT CONVENE_EMBEDDED_PORT=$PGPORT CONVENE_EMBEDDED_DATA_DIR=$WORK/pg \
  java -jar "$JAR" > "$WORK/server.log" 2>&1 &
SERVER=$!
stop() {
  kill "$SERVER" 2>/dev/null
  for _ in $(seq 1 40); do kill -0 "$SERVER" 2>/dev/null || break; sleep 0.5; done
  kill -KILL "$SERVER" 2>/dev/null
  rm -rf "$WORK"
}
trap stop EXIT
for _ in $(seq 1 120); do grep -q "serving gRPC" "$WORK/server.log" && break; sleep 0.5; done
KEY=$(grep -o 'cvk_[A-Za-z0-9_]*' "$WORK/server.log" | head -1)
[ -n "$KEY" ] || { echo "server did not start"; cat "$WORK/server.log"; exit 1; }
COMMON=(--insecure --timeout=10s -n "$TOTAL" -c "$CONC" --metadata "{\"authorization\":\"Bearer $KEY\"}")

echo "== CreateSession ($TOTAL requests, concurrency $CONC)"
"$GHZ" "${COMMON[@]}" --call convene.v1.SessionService/CreateSession -d '{
  "external_ref": "bench-{{.RequestNumber}}-{{.UUID}}", "media": "MEDIA_TYPE_VIDEO",
  "scheduled_start_time": "2030-01-01T10:00:00Z", "scheduled_end_time": "2030-01-01T10:30:00Z",
  "participants": [{"user_id": "dr", "role": "PARTICIPANT_ROLE_HOST"}, {"user_id": "pat", "role": "PARTICIPANT_ROLE_PARTICIPANT"}]
}' "127.0.0.1:$PORT"

SES=$("$GRPCURL" -plaintext -H "authorization: Bearer $KEY" -d '{"page_size": 1}' "127.0.0.1:$PORT" \
  convene.v1.SessionService/ListSessions | grep -o 'ses_[A-Za-z0-9]*' | head -1)

echo "== GetSession ($TOTAL requests, concurrency $CONC)"
"$GHZ" "${COMMON[@]}" --call convene.v1.SessionService/GetSession -d "{\"session_id\": \"$SES\"}" "127.0.0.1:$PORT"

echo "== JoinSession on one session, contended row lock ($TOTAL requests, concurrency $CONC)"
"$GHZ" "${COMMON[@]}" --call convene.v1.SessionService/JoinSession -d "{\"session_id\": \"$SES\", \"user_id\": \"pat\"}" "127.0.0.1:$PORT"
