#!/usr/bin/env bash
# Builds the descriptor set Envoy's grpc_json_transcoder reads: the one Maven builds for
# convene.v1 (with imports and source info) plus google/rpc/status.proto and
# google/rpc/error_details.proto. The transcoder needs the latter to print the ErrorInfo and
# BadRequest details of an error as JSON (convert_grpc_status); convene's own protos do not
# import them, so Maven's set lacks them.
#
# Two serialized FileDescriptorSets concatenated are one set holding the files of both (repeated
# fields append when protobuf messages are merged); files present in both are identical and
# accepted once by Envoy's descriptor pool.
#
# Usage: envoy/descriptor.sh [OUTPUT]   (default envoy/build/convene-edge.pb)
# Env:   CONVENE_DESCRIPTOR_SET (Maven's set), PROTOC (a protoc binary), M2_REPO (~/.m2/repository)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
out="${1:-$here/build/convene-edge.pb}"
m2="${M2_REPO:-$HOME/.m2/repository}"
maven_set="${CONVENE_DESCRIPTOR_SET:-$root/proto/target/generated-resources/protobuf/descriptor-sets/convene.pb}"
common_protos="$m2/com/google/api/grpc/proto-google-common-protos/2.64.1/proto-google-common-protos-2.64.1.jar"
protobuf_java="$m2/com/google/protobuf/protobuf-java/4.36.2/protobuf-java-4.36.2.jar"
work="$here/build/descriptor"

fail() { echo "descriptor.sh: $*" >&2; exit 1; }

[[ -f "$maven_set" ]] || fail "no descriptor set at $maven_set: build the proto module with Maven first"
for jar in "$common_protos" "$protobuf_java"; do
  [[ -f "$jar" ]] || fail "missing $jar: run the Maven build once so the jar is in the local repository"
done

protoc="${PROTOC:-}"
if [[ -z "$protoc" ]]; then
  # Maven's cached protoc is not executable in place; use a private executable copy.
  cached="$m2/com/google/protobuf/protoc/4.36.2/protoc-4.36.2-linux-x86_64.exe"
  [[ -f "$cached" ]] || fail "no protoc: set PROTOC or run the Maven build once (it caches $cached)"
  mkdir -p "$here/build/bin"
  install -m 0755 "$cached" "$here/build/bin/protoc"
  protoc="$here/build/bin/protoc"
fi

rm -rf "$work" && mkdir -p "$work/include"
python3 - "$work/include" "$common_protos" "$protobuf_java" <<'PY'
import sys, zipfile
dest, *jars = sys.argv[1:]
for jar in jars:
    with zipfile.ZipFile(jar) as z:
        z.extractall(dest, [n for n in z.namelist()
                            if n.endswith(".proto") and n.startswith(("google/rpc/", "google/protobuf/"))])
PY

# Files Maven's set already holds (google/protobuf/duration.proto) are taken from it, so any file
# that ends up twice in the result is byte-identical. No source info: only the types matter here.
"$protoc" --descriptor_set_in="$maven_set" -I"$work/include" --include_imports \
  --descriptor_set_out="$work/rpc.pb" google/rpc/status.proto google/rpc/error_details.proto
mkdir -p "$(dirname "$out")"
cat "$maven_set" "$work/rpc.pb" > "$out.tmp" && mv "$out.tmp" "$out"
echo "descriptor.sh: wrote $out"
