#!/usr/bin/env bash
# Builds Convene and runs the server on the embedded PostgreSQL (data in ./data/postgres).
# Configuration comes from CONVENE_* environment variables; see README.md.
set -euo pipefail
cd "$(dirname "$0")"
mvn -B -q -DskipTests package
exec java -jar server/target/convene-server.jar "$@"
