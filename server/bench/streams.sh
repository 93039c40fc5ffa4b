#!/usr/bin/env bash
# The watch streams' benchmark (server/bench/Streams.java): 10,000 idle WatchSession streams on one
# server (its heap and threads before and after), then the fan-out latency of one change to 1,000 of
# them (p50/p99), beside the change's own call and a Health/Check round trip measured in the same run.
# The server runs on a fresh embedded PostgreSQL in its serving mode (fsync on), loopback only.
# Usage: server/bench/streams.sh [streams, default 10000] [watchers of the changed session, default 1000]
#        [changes, default 20]
set -euo pipefail
cd "$(dirname "$0")/../.."
STREAMS=${1:-10000}
FANOUT=${2:-1000}
CHANGES=${3:-20}
source server/bench/serve.sh
bench_build
BENCH_JAVA_OPTS=()
bench_serve
echo "server: $(java -version 2>&1 | head -1), default heap settings; $(nproc) cores"
java -Xmx2g -cp "$(cat "$CLIENT_CP"):proto/target/classes" server/bench/Streams.java "127.0.0.1:$PORT" "$KEY" \
  "$SERVER" "$STREAMS" "$FANOUT" "$CHANGES"
grep -E "ERROR|Exception" "$WORK/server.log" | head -5 || true
