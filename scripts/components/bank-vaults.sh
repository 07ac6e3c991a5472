#!/usr/bin/env bash
# Bank-Vaults' programs, the peers of `make bench` (never part of `make test`): vault-env (their init
# process) and vault-secrets-webhook, built from their upstream sources and cached like every other
# component ("$VAULT_INJECT_CACHE/bank-vaults/<versions>/bin/").
#
# Where the sources come from: the Go module proxy refuses the bank-vaults modules (403), so they are
# built from a directory you supply, named by VAULT_INJECT_BV_SOURCES or given as the argument of
# `ensure`. That directory holds the upstream release sources and an executable `build.sh OUT_DIR`
# that leaves OUT_DIR/vault-env and OUT_DIR/vault-secrets-webhook (e.g. `go build` of the tags
# vault-env v1.23.0 and vault-secrets-webhook v1.23.1). Without it the peers are "not available",
# said so with the reason, and the benches print our numbers alone.
#
#   bank-vaults.sh [ensure [SOURCES_DIR]]        build both once; one summary line
#   bank-vaults.sh path vault-env|webhook         a binary's path (exit 1 when not built)
#   bank-vaults.sh version                        the versions
#   bank-vaults.sh env                            export lines for both
#   bank-vaults.sh why                            why the peers are not available (exit 1), or nothing
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

VAULT_ENV_VERSION="${VAULT_INJECT_BV_VAULT_ENV_VERSION:-1.23.0}"
WEBHOOK_VERSION="${VAULT_INJECT_BV_WEBHOOK_VERSION:-1.23.1}"
vi_component bank-vaults "vault-env-$VAULT_ENV_VERSION+webhook-$WEBHOOK_VERSION" VAULT_INJECT_BV

# program name -> binary name and env variable
binary_of() {
  case "$1" in
    vault-env) printf 'vault-env' ;;
    webhook | vault-secrets-webhook) printf 'vault-secrets-webhook' ;;
    *) vi_die "unknown Bank-Vaults program '$1' (vault-env or webhook)" ;;
  esac
}
bin_path() { printf '%s' "$VI_CACHE/$VI_NAME/$VI_VERSION/bin/$(binary_of "$1")"; }

SOURCES="${VAULT_INJECT_BV_SOURCES:-}"

# not_available: why the sources cannot be used (nothing when they can).
not_available() {
  if [ -z "$SOURCES" ]; then
    printf 'VAULT_INJECT_BV_SOURCES is not set (a directory with the Bank-Vaults sources and a build.sh OUT_DIR; see docs/benchmarks.md)'
  elif [ ! -d "$SOURCES" ]; then
    printf 'VAULT_INJECT_BV_SOURCES=%s is not a directory' "$SOURCES"
  elif [ ! -x "$SOURCES/build.sh" ]; then
    printf 'VAULT_INJECT_BV_SOURCES=%s has no executable build.sh' "$SOURCES"
  fi
}

build() {
  local stage="$1" log="$2" go
  go="$(vi_find_go)"
  mkdir -p "$stage/bin"
  vi_log "building vault-env $VAULT_ENV_VERSION and vault-secrets-webhook $WEBHOOK_VERSION from $SOURCES ($("$go" env GOVERSION); minutes when cold)"
  PATH="$(dirname "$go"):$PATH" vi_run "$log" nice -n 10 "$SOURCES/build.sh" "$stage/bin"
  local b
  for b in vault-env vault-secrets-webhook; do
    [ -x "$stage/bin/$b" ] || vi_die "$SOURCES/build.sh left no $b in $stage/bin (log: $log)"
  done
}

built() { [ -x "$(bin_path vault-env)" ] && [ -x "$(bin_path webhook)" ]; }

case "${1:-ensure}" in
  ensure)
    [ -n "${2:-}" ] && SOURCES="$2"
    if built; then
      vi_summary cached 0.0s "$VI_VERSION" "$(dirname "$(bin_path vault-env)")"
      exit 0
    fi
    why="$(not_available)"
    if [ -n "$why" ]; then
      vi_log "peer not available: $why"
      exit 1
    fi
    vi_ensure_cached "$VI_VERSION" bin/vault-secrets-webhook build
    ;;
  path | --print-path)
    p="$(bin_path "${2:-}")"
    if [ ! -x "$p" ]; then
      why="$(not_available)"
      vi_log "peer not available: not built at $p${why:+; $why}"
      exit 1
    fi
    printf '%s\n' "$p"
    ;;
  why)
    built && exit 0
    why="$(not_available)"
    printf 'not built yet (scripts/components.sh --bench)%s\n' "${why:+: $why}"
    exit 1
    ;;
  version | --version)
    printf 'vault-env %s\nvault-secrets-webhook %s\n' "$VAULT_ENV_VERSION" "$WEBHOOK_VERSION"
    ;;
  env | --env)
    printf 'export VAULT_INJECT_BV_VAULT_ENV=%q\n' "$(bin_path vault-env)"
    printf 'export VAULT_INJECT_BV_WEBHOOK=%q\n' "$(bin_path webhook)"
    ;;
  *)
    printf 'usage: %s [ensure [SOURCES_DIR] | path vault-env|webhook | version | env | why]\n' "$(basename "$0")" >&2
    exit 2
    ;;
esac
