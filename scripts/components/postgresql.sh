#!/usr/bin/env bash
# PostgreSQL from Debian's postgresql package: the database behind OpenBao's `database` secrets
# engine, the real source of renewable leases in the init program's daemon-mode tests. Only its
# binaries are used (the tests run their own throwaway server on loopback); no service is started.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# The version is Debian's; it is reported, not chosen.
vi_component postgresql "$(vi_apt_installed postgresql)" VAULT_INJECT_POSTGRES

# The server binary of the newest major version installed (/usr/lib/postgresql/MAJOR/bin).
vi_path() {
  local dir
  dir="$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n 1)"
  printf '%s' "${dir:-/usr/lib/postgresql/MAJOR/bin}/postgres"
}

vi_ensure() {
  local start
  start="$(vi_now_us)"
  if [ -n "$(vi_apt_installed postgresql)" ] && [ -x "$(vi_path)" ]; then
    vi_summary cached "$(vi_elapsed "$start")" "$VI_VERSION" "$(vi_path)"
    return 0
  fi
  # The server's path holds its major version, known only after the install: postgresql-common's
  # pg_createcluster (a dependency of the server) stands in for it until then.
  vi_apt_ensure postgresql /usr/bin/pg_createcluster >/dev/null
  [ -x "$(vi_path)" ] || vi_die "postgresql installed but no /usr/lib/postgresql/*/bin/postgres"
  vi_summary installed "$(vi_elapsed "$start")" "$(vi_apt_installed postgresql)" "$(vi_path)"
}

vi_main "$@"
