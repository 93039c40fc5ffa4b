# Sourced by the benchmarks. bench_build: the server jar ($JAR) and the Java client's class path
# ($CLIENT_CP), built if missing. bench_serve: starts the built server ($JAR) on a fresh embedded PostgreSQL in its
# durable serving mode, loopback only, with the Java options in BENCH_JAVA_OPTS (an array, may be
# empty), and stops it on exit. Sets PORT, PGPORT, WORK, SERVER (its pid) and KEY (the dev tenant's key).
bench_build() {
  JAR=${JAR:-server/target/convene-server.jar}
  [ -f "$JAR" ] || mvn -B -q -DskipTests package
  CLIENT_CP=client-stubs/java/target/bench.classpath
  if [ ! -f "$CLIENT_CP" ]; then
    mvn -B -q -pl client-stubs/java -am install -DskipTests
    mvn -B -q -pl client-stubs/java dependency:build-classpath -Dmdep.outputFile="$PWD/$CLIENT_CP"
  fi
}

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
