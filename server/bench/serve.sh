# Sourced by the benchmarks: starts the built server ($JAR) on a fresh embedded PostgreSQL in its
# durable serving mode, loopback only, with the Java options in BENCH_JAVA_OPTS (an array, may be
# empty), and stops it on exit. Sets PORT, PGPORT, WORK, SERVER (its pid) and KEY (the dev tenant's key).
bench_serve() {
  WORK=${WORK:-$(mktemp -d)}
  PORT=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
  PGPORT=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
  CONVENE_GRPC_PORT=$PORT CONVENE_METRICS_PORT=0 CONVENE_EMBEDDED_PORT=$PGPORT CONVENE_EMBEDDED_DATA_DIR=$WORK/pg \
    java ${BENCH_JAVA_OPTS[@]+"${BENCH_JAVA_OPTS[@]}"} -jar "$JAR" > "$WORK/server.log" 2>&1 &
  SERVER=$!
  trap bench_stop EXIT
  for _ in $(seq 1 120); do grep -q "serving gRPC" "$WORK/server.log" && break; sleep 0.5; done
  KEY=$(grep -o 'cvk_[A-Za-z0-9_]*' "$WORK/server.log" | head -1)
  [ -n "$KEY" ] || { echo "server did not start"; cat "$WORK/server.log"; exit 1; }
}

bench_stop() {
  kill "$SERVER" 2>/dev/null || true
  for _ in $(seq 1 40); do kill -0 "$SERVER" 2>/dev/null || break; sleep 0.5; done
  kill -KILL "$SERVER" 2>/dev/null || true
  rm -rf "$WORK"
}
