#!/usr/bin/env bash
# Builds the server if its sources changed, then runs it on the embedded PostgreSQL (data in
# ./data/postgres).
# Configuration comes from CONVENE_* environment variables; see README.md.
set -euo pipefail
cd "$(dirname "$0")"

jar=server/target/convene-server.jar

# The jar is rebuilt only when it is missing or something it is built from is newer than it: the
# parent pom.xml, and every file and directory under proto/ (the contract and its pom) and server/
# (the server's sources, resources, migrations and pom). Nothing else goes into it: client-stubs/
# and envoy/ depend on the server, not the reverse, so the build below is limited to these two
# modules. Directories count because a directory's mtime moves when a file in it is added, removed
# or renamed (so an ignored file created or deleted right in one costs one needless rebuild). Left
# out, as in .gitignore: build output (target/), data/, node_modules/, logs and editor files. A
# source saved while a build runs may be older than the jar that build writes: `touch` it, or
# delete the jar, to force the next rebuild.
stale_source() {
  find pom.xml proto server \
    \( -name target -o -name data -o -name node_modules -o -name __pycache__ -o -name .idea \
       -o -name '*.log' -o -name '*.iml' \) -prune \
    -o -newer "$jar" -print -quit
}

if [[ ! -f $jar ]]; then
  echo "run.sh: no $jar yet, building it" >&2
  mvn -B -q -DskipTests -pl server -am package
elif changed=$(stale_source) && [[ -n $changed ]]; then
  echo "run.sh: $changed changed since $jar was built, rebuilding" >&2
  mvn -B -q -DskipTests -pl server -am package
fi
exec java -jar "$jar" "$@"
