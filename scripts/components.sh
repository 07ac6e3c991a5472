#!/usr/bin/env bash
# Makes sure the real components the tests run are present, built once and cached outside the repo
# in ${VAULT_INJECT_CACHE:-$HOME/.cache/vault-inject}. Warm, it takes a fraction of a second.
#
#   scripts/components.sh            ensure the default set; one summary line per component
#   scripts/components.sh --env      ensure the default set, then print `export VAULT_INJECT_…=…`
#                                    lines on stdout (summaries go to stderr):
#                                    eval "$(scripts/components.sh --env)"
#   scripts/components.sh --bench    also the Bank-Vaults peers of `make bench`
#   scripts/components.sh --vault    also HashiCorp Vault (implied by VAULT_FLAVOR=vault)
#   scripts/components.sh --smoke    afterwards, start each server on loopback and check it answers
#
# One component alone: scripts/components/NAME.sh [ensure|path|version|env].
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
dir="$here/components"

# Cheapest first; the Go builds run one after the other (they use every core).
# kubelet shares kube-apiserver's module and build caches: right after it.
components=(registry busybox shellcheck buildah postgresql hadolint cni-plugins pause openbao etcd
  kube-apiserver kubelet kubectl helm runc containerd)
env_only=false
bench=false
vault=false
smoke=false
[ "${VAULT_FLAVOR:-}" = vault ] && vault=true

for arg in "$@"; do
  case "$arg" in
    --env) env_only=true ;;
    --bench) bench=true ;;
    --vault) vault=true ;;
    --smoke) smoke=true ;;
    -h | --help)
      sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "components: unknown option $arg (try --help)" >&2
      exit 2
      ;;
  esac
done
$vault && components+=(vault)
$bench && components+=(bank-vaults)

start="${EPOCHREALTIME/[.,]/}"
failed=()
for c in "${components[@]}"; do
  if $env_only; then
    "$dir/$c.sh" ensure >&2 || failed+=("$c")
  else
    "$dir/$c.sh" ensure || failed+=("$c")
  fi
done
now="${EPOCHREALTIME/[.,]/}"
took=$(((now - start) / 100000))
summary="components: ${#components[@]} checked in $((took / 10)).$((took % 10))s"

if [ "${#failed[@]}" -gt 0 ]; then
  echo "$summary; FAILED: ${failed[*]} (see the messages above)" >&2
  exit 1
fi
echo "$summary; cache: ${VAULT_INJECT_CACHE:-$HOME/.cache/vault-inject}" >&2

if $smoke; then
  "$dir/smoke.sh" >&2
fi

if $env_only; then
  printf 'export VAULT_INJECT_CACHE=%q\n' "${VAULT_INJECT_CACHE:-$HOME/.cache/vault-inject}"
  for c in "${components[@]}"; do
    "$dir/$c.sh" env
  done
fi
