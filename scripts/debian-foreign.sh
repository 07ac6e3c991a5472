#!/usr/bin/env bash
# Debian packages of another architecture, unpacked into the cache, never installed:
#
#   scripts/debian-foreign.sh ARCH PACKAGE...
#
# prints one line per package, `PACKAGE VERSION DIR`, where DIR/root is the package's files
# (dpkg-deb -x) and DIR/control its control files (dpkg-deb -e: control, md5sums). DIR is
# $VAULT_INJECT_CACHE/debian/ARCH/PACKAGE/VERSION: the candidate version of this machine's apt
# sources, downloaded once. scripts/bundle.sh --arch takes the loader and libraries of a foreign
# bundle from here. Adds ARCH to dpkg's architectures and runs apt-get update when apt does not
# know the package yet (root or sudo).
set -euo pipefail
arch="${1:?usage: scripts/debian-foreign.sh ARCH PACKAGE...}"
shift
cache="${VAULT_INJECT_CACHE:-$HOME/.cache/vault-inject}/debian/$arch"
apt_lock="${VAULT_INJECT_CACHE:-$HOME/.cache/vault-inject}/.apt.lock"
mkdir -p "$cache"
lock=""

die() {
  printf 'debian-foreign: error: %s\n' "$*" >&2
  exit 1
}
sudo=()
[ "$(id -u)" -eq 0 ] || sudo=(sudo)

candidate() { apt-cache policy "$1:$arch" 2>/dev/null | awk '$1 == "Candidate:" { print $2 }'; }

for pkg in "$@"; do
  version="$(candidate "$pkg")"
  if [ -z "$version" ] || [ "$version" = "(none)" ]; then
    # One apt-get at a time among our builds (scripts/bundle.sh takes the same lock).
    exec {lock}>"$apt_lock"
    flock "$lock"
    version="$(candidate "$pkg")"
  fi
  if [ -z "$version" ] || [ "$version" = "(none)" ]; then
    if ! dpkg --print-foreign-architectures | grep -qx "$arch"; then
      printf 'debian-foreign: adding the %s architecture to dpkg\n' "$arch" >&2
      "${sudo[@]}" dpkg --add-architecture "$arch"
    fi
    printf 'debian-foreign: apt-get update (for %s:%s)\n' "$pkg" "$arch" >&2
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get update -qq >/dev/null
    version="$(candidate "$pkg")"
  fi
  if [ -n "$lock" ]; then
    exec {lock}>&-
    lock=""
  fi
  if [ -z "$version" ] || [ "$version" = "(none)" ]; then
    die "apt has no $pkg:$arch"
  fi
  dest="$cache/$pkg/$version"
  if [ ! -d "$dest" ]; then
    mkdir -p "$cache/$pkg"
    tmp="$(mktemp -d "$cache/$pkg/.stage-XXXXXX")"
    trap 'rm -rf "$tmp"' EXIT
    (cd "$tmp" && apt-get download -qq "$pkg:$arch=$version" >/dev/null 2>&1) ||
      die "apt-get download $pkg:$arch=$version failed"
    deb="$(ls "$tmp"/*.deb)"
    dpkg-deb -x "$deb" "$tmp/root"
    dpkg-deb -e "$deb" "$tmp/control"
    rm -f "$deb"
    # A concurrent run may have finished first: its copy is as good as ours.
    mv -T "$tmp" "$dest" 2>/dev/null || rm -rf "$tmp"
    trap - EXIT
    printf 'debian-foreign: %s:%s %s unpacked into %s\n' "$pkg" "$arch" "$version" "$dest" >&2
  fi
  printf '%s %s %s\n' "$pkg" "$version" "$dest"
done
