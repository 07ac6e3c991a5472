#!/usr/bin/env bash
# Ensures the project's Node.js (24 LTS) is in the cache and prints its bin directory.
# The machine's own Node.js is never touched: the Makefile puts this directory first on PATH.
#   scripts/ensure-node.sh          this machine's (x86-64) runtime, the one every target runs on
#   scripts/ensure-node.sh arm64    the linux-arm64 runtime, only to be bundled (scripts/bundle.sh)
set -euo pipefail

NODE_VERSION="${VAULT_INJECT_NODE_VERSION:-24.21.0}"
cache="${VAULT_INJECT_CACHE:-$HOME/.cache/vault-inject}"
case "${1:-x64}" in
  x64 | amd64) npm_arch=x64 dest="$cache/node/$NODE_VERSION" ;;
  arm64) npm_arch=arm64 dest="$cache/node/$NODE_VERSION-arm64" ;;
  *)
    echo "node: unknown architecture '$1' (x64 or arm64)" >&2
    exit 2
    ;;
esac
pkg="node-linux-$npm_arch"

if [ ! -x "$dest/bin/node" ]; then
  start=$(date +%s)
  echo "node: fetching $pkg@$NODE_VERSION from the npm registry" >&2
  mkdir -p "$cache"
  tmp=$(mktemp -d "$cache/.node-XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  if ! (cd "$tmp" && npm pack --silent "$pkg@$NODE_VERSION" >/dev/null); then
    echo "node: 'npm pack $pkg@$NODE_VERSION' failed" >&2
    exit 1
  fi
  tar -xzf "$tmp/$pkg-$NODE_VERSION.tgz" -C "$tmp"
  # Only a runtime of this machine's architecture can be tried here.
  [ "$npm_arch" != x64 ] || "$tmp/package/bin/node" --version >/dev/null
  mkdir -p "$(dirname "$dest")"
  rm -rf "$dest"
  mv "$tmp/package" "$dest"
  echo "node: $NODE_VERSION ready in $(( $(date +%s) - start ))s" >&2
fi
echo "$dest/bin"
