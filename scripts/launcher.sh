#!/usr/bin/env bash
# `vault-inject` and `vault-inject-env` on the host: `make install-cli` links both names to this
# script, which runs the built program (dist/) on the project's own Node.js 24
# (scripts/ensure-node.sh), building it first when it is missing or older than its sources.
# Build output goes to stderr, so the program's stdout stays its own.
set -euo pipefail

self=$(readlink -f "${BASH_SOURCE[0]}")
root=$(cd "$(dirname "$self")/.." && pwd)
name=$(basename "$0")

case "$name" in
  vault-inject) target=webhook; entry=dist/webhook/vault-inject.js; sources=webhook/src ;;
  vault-inject-env) target=init; entry=dist/init/vault-inject-env.js; sources=init-binary/src ;;
  *)
    echo "launcher: run me as vault-inject or vault-inject-env (make install-cli links both)" >&2
    exit 2
    ;;
esac

node_bin=$("$root/scripts/ensure-node.sh")
if [ ! -f "$root/$entry" ] ||
  [ -n "$(find "$root/$sources" -newer "$root/$entry" -print -quit)" ]; then
  if [ ! -d "$root/node_modules" ]; then
    echo "$name: $entry is not built and node_modules is missing: run make build in $root" >&2
    exit 2
  fi
  (cd "$root" && "$node_bin/node" scripts/build.ts "$target") >&2
fi
exec "$node_bin/node" "$root/$entry" "$@"
