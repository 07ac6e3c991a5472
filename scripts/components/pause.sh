#!/usr/bin/env bash
# The pod sandbox ("pause") program of the local node: pause/pause.c compiled static (musl-gcc from
# Debian's musl-tools), so that an image holding only this file is a complete sandbox image. The
# node's setup (test/env/node.ts) puts it in an image FROM scratch and pushes it to the local
# registry. The version follows the source: editing pause.c makes a new build.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

source_file="$VI_COMPONENTS_DIR/pause/pause.c"
vi_component pause "1-$(sha256sum "$source_file" | cut -c1-12)" VAULT_INJECT_PAUSE

vi_path() { printf '%s' "$VI_CACHE/$VI_NAME/$VI_VERSION/bin/pause"; }

build() {
  local stage="$1" log="$2"
  mkdir -p "$stage/bin"
  cp "$source_file" "$stage/pause.c"
  vi_run "$log" musl-gcc -static -Os -s -Wall -Wextra -Werror -o "$stage/bin/pause" "$stage/pause.c"
  vi_run "$log" "$stage/bin/pause" -v
  if ldd "$stage/bin/pause" >/dev/null 2>&1; then
    vi_die "$stage/bin/pause is not static (log: $log)"
  fi
}

vi_ensure() {
  vi_apt_ensure musl-tools /usr/bin/musl-gcc >/dev/null
  vi_ensure_cached "$VI_VERSION" bin/pause build
}

vi_main "$@"
