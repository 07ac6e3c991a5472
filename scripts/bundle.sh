#!/usr/bin/env bash
# Assembles the portable /vault-inject bundle into OUT (default dist/bundle/vault-inject):
#
#   bin/vault-inject-env          static launcher (init-binary/launcher/launcher.c, musl)
#   runtime/node                  Node.js 24 (the project's, from scripts/ensure-node.sh), stripped
#   runtime/lib/                  the glibc loader and exactly the shared libraries node needs
#   app/vault-inject-env.mjs      entry: turns on the shipped compile cache, imports program.mjs
#   app/program.mjs               the init program, one esbuild file (scripts/bundle.ts)
#   app/compile-cache/            V8 code cache made here, read-only at run time
#   BUNDLE-INFO                   versions and sizes
#   licenses/, sbom.spdx.json     licence files and the SPDX SBOM of every file (scripts/sbom.ts)
#
# Runs in any image: no shell, no libc, any UID, read-only mount (docs/init-program.md).
# Dockerfile.init and the tests both call this script. Needs: Debian (apt) for musl-tools.
set -euo pipefail
cd "$(dirname "$0")/.."
out="$(realpath -m "${1:-dist/bundle/vault-inject}")"
start=$(date +%s%N)

log() { printf 'bundle: %s\n' "$*" >&2; }
die() {
  printf 'bundle: error: %s\n' "$*" >&2
  exit 1
}

[ "$(uname -m)" = x86_64 ] || die "only x86_64 is supported (found $(uname -m))"
node_bin="$(scripts/ensure-node.sh)"
node="$node_bin/node"
export PATH="$node_bin:$PWD/node_modules/.bin:$PATH"
[ -d node_modules/esbuild ] || die "npm packages are missing: run make deps"
# The runtime must be the pinned one (scripts/node-checksums.txt).
scripts/verify-node.sh "$node_bin/.."

ensure_debian_package() { # PACKAGE COMMAND
  command -v "$2" >/dev/null && return 0
  command -v apt-get >/dev/null || die "$2 is missing and there is no apt-get to install $1"
  log "installing Debian package $1 (for $2)"
  local sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "$1" >/dev/null
  command -v "$2" >/dev/null || die "$1 installed but $2 is still missing"
}
ensure_debian_package musl-tools musl-gcc
ensure_debian_package binutils strip

stage="$(mktemp -d "$(dirname "$out")/.bundle-XXXXXX" 2>/dev/null || { mkdir -p "$(dirname "$out")" && mktemp -d "$(dirname "$out")/.bundle-XXXXXX"; })"
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/bin" "$stage/runtime/lib"

# 1. The launcher: static, no libc needed in the image.
musl-gcc -static -Os -s -Wall -Wextra -Werror -o "$stage/bin/vault-inject-env" init-binary/launcher/launcher.c
file_out="$(file -b "$stage/bin/vault-inject-env" 2>/dev/null || true)"
case "$file_out" in *dynamically*) die "the launcher is not static: $file_out" ;; esac

# 2. Node.js, stripped of its symbol table (126 MB -> 108 MB; same code).
strip --strip-all -o "$stage/runtime/node" "$node"

# 3. The loader and the libraries node needs, resolved by this host's loader (copies, no links).
loader=""
while read -r name arrow path _; do
  if [ "$arrow" = "=>" ] && [ -f "$path" ]; then
    cp -L "$path" "$stage/runtime/lib/$name"
  elif [[ "$name" == /*ld-linux* ]]; then
    loader="$name"
  fi
done < <(ldd "$node")
[ -n "$loader" ] || die "ldd $node named no ELF loader"
cp -L "$loader" "$stage/runtime/lib/ld-linux-x86-64.so.2"
for lib in "$stage"/runtime/lib/*; do
  case "$lib" in *ld-linux*) ;; *) strip --strip-unneeded "$lib" ;; esac
done

# 4. The program and its compile cache.
node scripts/bundle.ts "$stage" >/dev/null

# Modes for any UID from a read-only mount: everything readable, programs and dirs executable.
find "$stage" -type d -exec chmod 0755 {} +
find "$stage" -type f -exec chmod 0644 {} +
chmod 0755 "$stage/bin/vault-inject-env" "$stage/runtime/node" "$stage/runtime/lib/ld-linux-x86-64.so.2"

# Warm the compile cache through the bundle itself (same runtime, same flags): a run that parses
# and compiles everything a real start does, with no Vault and no command needed.
env -i PATH=/usr/bin:/bin "$stage/bin/vault-inject-env" --warm-compile-cache >/dev/null
find "$stage/app/compile-cache" -type d -exec chmod 0755 {} +
find "$stage/app/compile-cache" -type f -exec chmod 0644 {} +

# Smoke test: the bundle starts and execs a command.
env -i PATH=/usr/bin:/bin "$stage/bin/vault-inject-env" true || die "the bundle does not start"

{
  printf 'node=%s\n' "$("$node" --version)"
  printf 'glibc=%s\n' "$(ldd --version | head -n 1 | awk '{print $NF}')"
  printf 'libraries=%s\n' "$(cd "$stage/runtime/lib" && ls | tr '\n' ' ' | sed 's/ $//')"
  printf 'size_bytes=%s\n' "$(du -sb "$stage" | cut -f1)"
} >"$stage/BUNDLE-INFO"

# Licence files and the SBOM, last: it lists every file above with its checksums.
node scripts/sbom.ts init "$stage" "$node_bin/.."
find "$stage/licenses" -type d -exec chmod 0755 {} +
find "$stage/licenses" "$stage/sbom.spdx.json" -type f -exec chmod 0644 {} +

rm -rf "$out"
mv -T "$stage" "$out"
trap - EXIT
chmod 0755 "$out"
log "$out: $(du -sh "$out" | cut -f1) in $(( ($(date +%s%N) - start) / 1000000 )) ms"
