#!/usr/bin/env bash
# Prints the path of a livekit-server v1.13.5 binary, building it into a per-user cache when missing.
# v1.13.5 is the newest release that `go install` builds here (later ones carry `replace` directives);
# a cold build takes about 3 minutes of two cores, so the result is kept, keyed by version.
set -euo pipefail

version=v1.13.5
dir="${XDG_CACHE_HOME:-$HOME/.cache}/convene/livekit-server-${version}"
bin="$dir/livekit-server"

if [[ -x "$bin" ]]; then
  echo "$bin"
  exit 0
fi

command -v go >/dev/null || { echo "livekit-server.sh: go is not installed (needed once to build $bin)" >&2; exit 1; }

mkdir -p "$dir"
# Build into a private directory so a concurrent run never sees a half-written binary.
tmp="$(mktemp -d "$dir/build.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
# GOFLAGS cleared: a -mod setting from the environment would break `go install pkg@version`.
GOFLAGS= CGO_ENABLED=0 GOBIN="$tmp" go install "github.com/livekit/livekit-server/cmd/server@${version}" >&2
# Same filesystem, so mv is an atomic rename: readers see either nothing or the whole binary.
mv -f "$tmp/server" "$bin"
echo "$bin"
