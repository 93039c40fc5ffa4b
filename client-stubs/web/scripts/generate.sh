#!/usr/bin/env bash
# Generates src/gen/ (not checked in) from the convene.v1 protos with protoc + protoc-gen-es.
#
# protoc and the imports (buf/validate, google/api, google/rpc, google/protobuf) come from the
# Maven build of the proto module: proto/target/protoc/protoc and proto/target/proto-imports.
# Run that build once first (or set PROTOC and CONVENE_PROTO_INCLUDE).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
root="$(cd "$here/../.." && pwd)"
proto_src="$root/proto/src/main/proto"
include="${CONVENE_PROTO_INCLUDE:-$root/proto/target/proto-imports}"
protoc="${PROTOC:-$root/proto/target/protoc/protoc}"
out="$here/src/gen"
plugin="$here/node_modules/.bin/protoc-gen-es"

fail() { echo "generate.sh: $*" >&2; exit 1; }

[[ -d "$proto_src/convene/v1" ]] || fail "no protos at $proto_src"
[[ -d "$include/buf/validate" ]] || fail "no unpacked imports in $include: build the proto module with Maven first"
[[ -x "$protoc" ]] || fail "no protoc at $protoc: build the proto module with Maven first, or set PROTOC"
[[ -x "$plugin" ]] || fail "no $plugin: run npm ci first"

rm -rf "$out" && mkdir -p "$out"
# The well-known types (google/protobuf/*) ship with @bufbuild/protobuf/wkt and are not generated.
# Everything the convene protos import is generated so the imports resolve; google/rpc is for
# reading error details (ErrorInfo, BadRequest) from grpc-status-details-bin.
(cd "$proto_src" && find convene -name '*.proto' | sort) | xargs \
  "$protoc" -I"$proto_src" -I"$include" \
    --plugin=protoc-gen-es="$plugin" \
    --es_out="$out" --es_opt=target=ts,import_extension=js \
    buf/validate/validate.proto \
    google/api/annotations.proto google/api/http.proto google/api/httpbody.proto \
    google/rpc/status.proto google/rpc/error_details.proto
echo "generate.sh: generated $(find "$out" -name '*.ts' | wc -l) files in src/gen"
