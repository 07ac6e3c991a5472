#!/usr/bin/env bash
# Bank-Vaults' programs, the peers of `make bench` (not part of `make test`): vault-env (their init
# process) and vault-secrets-webhook, `go install`ed into the cache. Neither go.mod has replace
# directives.
#   bank-vaults.sh [ensure]                      build both; one summary line each
#   bank-vaults.sh path vault-env|webhook         a binary's path
#   bank-vaults.sh env                            export lines for both
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

VAULT_ENV_VERSION="${VAULT_INJECT_BV_VAULT_ENV_VERSION:-1.23.0}"
WEBHOOK_VERSION="${VAULT_INJECT_BV_WEBHOOK_VERSION:-1.23.1}"

# component name, version, env variable, module
select_component() {
  case "$1" in
    vault-env)
      vi_component vault-env "$VAULT_ENV_VERSION" VAULT_INJECT_BV_VAULT_ENV
      MODULE=github.com/bank-vaults/vault-env
      ;;
    webhook | vault-secrets-webhook)
      vi_component vault-secrets-webhook "$WEBHOOK_VERSION" VAULT_INJECT_BV_WEBHOOK
      MODULE=github.com/bank-vaults/vault-secrets-webhook
      ;;
    *) vi_die "unknown Bank-Vaults program '$1' (vault-env or webhook)" ;;
  esac
}

vi_path() { printf '%s' "$VI_CACHE/$VI_NAME/$VI_VERSION/bin/$VI_NAME"; }

build() {
  local stage="$1" log="$2" go
  go="$(vi_find_go)"
  vi_go_env
  mkdir -p "$stage/bin"
  vi_log "go install $MODULE@v$VI_VERSION ($("$go" env GOVERSION))"
  GOBIN="$stage/bin" vi_run "$log" nice -n 10 "$go" install -trimpath -ldflags "-s -w" "$MODULE@v$VI_VERSION"
  [ -x "$stage/bin/$VI_NAME" ] || vi_die "go install produced no $VI_NAME in $stage/bin (log: $log)"
}

case "${1:-ensure}" in
  ensure)
    rc=0
    for program in vault-env webhook; do
      (
        select_component "$program"
        vi_ensure_cached "$VI_VERSION" "bin/$VI_NAME" build
      ) || rc=1
    done
    exit "$rc"
    ;;
  path | --print-path)
    select_component "${2:-}"
    p="$(vi_path)"
    [ -x "$p" ] || vi_die "not present at $p; run scripts/components.sh --bench first"
    printf '%s\n' "$p"
    ;;
  version | --version)
    printf 'vault-env %s\nvault-secrets-webhook %s\n' "$VAULT_ENV_VERSION" "$WEBHOOK_VERSION"
    ;;
  env | --env)
    for program in vault-env webhook; do
      select_component "$program"
      printf 'export %s=%q\n' "$VI_ENV" "$(vi_path)"
    done
    ;;
  *)
    printf 'usage: %s [ensure | path vault-env|webhook | version | env]\n' "$(basename "$0")" >&2
    exit 2
    ;;
esac
