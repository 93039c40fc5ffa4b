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
# Needs the Maven build of the proto module (the set, its protoc and its unpacked imports).
# Env:   CONVENE_DESCRIPTOR_SET (Maven's set), PROTOC (another protoc binary)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
out="${1:-$here/build/convene-edge.pb}"
maven_set="${CONVENE_DESCRIPTOR_SET:-$root/proto/target/generated-resources/protobuf/descriptor-sets/convene.pb}"
include="$root/proto/target/proto-imports"
protoc="${PROTOC:-$root/proto/target/protoc/protoc}"
work="$here/build/descriptor"

fail() { echo "descriptor.sh: $*" >&2; exit 1; }

[[ -f "$maven_set" ]] || fail "no descriptor set at $maven_set: build the proto module with Maven first"
[[ -d "$include/google/rpc" ]] || fail "no unpacked imports in $include: build the proto module with Maven first"
[[ -x "$protoc" ]] || fail "no protoc at $protoc: build the proto module with Maven first, or set PROTOC"

rm -rf "$work" && mkdir -p "$work"
# Files Maven's set already holds (google/protobuf/duration.proto) are taken from it, so any file
# that ends up twice in the result is byte-identical. No source info: only the types matter here.
"$protoc" --descriptor_set_in="$maven_set" -I"$include" --include_imports \
  --descriptor_set_out="$work/rpc.pb" google/rpc/status.proto google/rpc/error_details.proto
mkdir -p "$(dirname "$out")"
cat "$maven_set" "$work/rpc.pb" > "$out.tmp" && mv "$out.tmp" "$out"
echo "descriptor.sh: wrote $out"
