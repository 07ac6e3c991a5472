#!/usr/bin/env bash
# A static busybox from Debian's busybox-static: a shell and coreutils with no libc, for scratch-like
# test roots (an empty directory plus one static binary is a scratch image).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

vi_component busybox "$(vi_apt_installed busybox-static)" VAULT_INJECT_BUSYBOX

vi_path() { printf '%s' /bin/busybox; }

check_static() {
  # `ldd` says "not a dynamic executable" (and fails) for a static binary.
  if ldd "$(vi_path)" >/dev/null 2>&1; then
    vi_die "$(vi_path) is dynamically linked; is busybox (not busybox-static) installed?"
  fi
}

vi_ensure() {
  vi_apt_ensure busybox-static "$(vi_path)"
  check_static
}

vi_main "$@"
