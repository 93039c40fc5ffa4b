#!/usr/bin/env bash
# Runs every Convene test: the Java suites (server, client helper) on real PostgreSQL,
# then buf lint on the contract. Installs what it needs from the package registries.
set -euo pipefail
cd "$(dirname "$0")"

mvn -B verify

echo "== buf lint (STANDARD) on proto/src/main/proto"
(cd proto && npx --yes @bufbuild/buf@1.75.0 lint)
echo "buf lint: clean"
