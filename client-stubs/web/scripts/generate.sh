#!/usr/bin/env bash
# Generates src/gen/ (not checked in) from the convene.v1 protos with protoc + protoc-gen-es.
#
# protoc:   $PROTOC, else the one Maven caches in ~/.m2 (copied to an executable place).
# includes: the .proto imports live in jars in the local Maven repository (buf/validate from
#           protovalidate, google/api and google/rpc from proto-google-common-protos,
#           google/protobuf from protobuf-java); they are unpacked into build/include (gitignored).
# Run the Maven build once first so those jars are in ~/.m2 (or set M2_REPO).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
root="$(cd "$here/../.." && pwd)"
m2="${M2_REPO:-$HOME/.m2/repository}"
proto_src="$root/proto/src/main/proto"
include="$here/build/include"
out="$here/src/gen"
plugin="$here/node_modules/.bin/protoc-gen-es"

fail() { echo "generate.sh: $*" >&2; exit 1; }

jars=(
  "$m2/build/buf/protovalidate/1.3.0/protovalidate-1.3.0.jar"
  "$m2/com/google/api/grpc/proto-google-common-protos/2.64.1/proto-google-common-protos-2.64.1.jar"
  "$m2/com/google/protobuf/protobuf-java/4.36.2/protobuf-java-4.36.2.jar"
)
for jar in "${jars[@]}"; do
  [[ -f "$jar" ]] || fail "missing $jar: run the Maven build once (or set M2_REPO)"
done
[[ -d "$proto_src/convene/v1" ]] || fail "no protos at $proto_src"
[[ -x "$plugin" ]] || fail "no $plugin: run npm ci first"

protoc="${PROTOC:-}"
if [[ -z "$protoc" ]]; then
  cached="$m2/com/google/protobuf/protoc/4.36.2/protoc-4.36.2-linux-x86_64.exe"
  [[ -f "$cached" ]] || fail "no protoc: set PROTOC or run the Maven build once (it caches $cached)"
  mkdir -p "$here/build/bin"
  install -m 0755 "$cached" "$here/build/bin/protoc"
  protoc="$here/build/bin/protoc"
fi

rm -rf "$include" && mkdir -p "$include"
python3 - "$include" "${jars[@]}" <<'PY'
import sys, zipfile
dest, *jars = sys.argv[1:]
for jar in jars:
    with zipfile.ZipFile(jar) as z:
        z.extractall(dest, [n for n in z.namelist()
                            if n.endswith(".proto") and n.startswith(("buf/", "google/"))])
PY

rm -rf "$out" && mkdir -p "$out"
# The well-known types (google/protobuf/*) ship with @bufbuild/protobuf/wkt and are not generated.
# Everything the convene protos import is generated so the imports resolve; google/rpc is for
# reading error details (ErrorInfo, BadRequest) from grpc-status-details-bin.
(cd "$proto_src" && find convene -name '*.proto' | sort) | xargs \
  "$protoc" -I"$proto_src" -I"$include" \
    --plugin=protoc-gen-es="$plugin" \
    --es_out="$out" --es_opt=target=ts,import_extension=js \
    buf/validate/validate.proto \
    google/api/annotations.proto google/api/http.proto \
    google/rpc/status.proto google/rpc/error_details.proto
echo "generate.sh: generated $(find "$out" -name '*.ts' | wc -l) files in src/gen"
