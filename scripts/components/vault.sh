#!/usr/bin/env bash
# HashiCorp Vault, optional: the tests use it instead of OpenBao when VAULT_FLAVOR=vault
# (test/env/openbao.ts). Not part of the default set (scripts/components.sh --vault, or
# VAULT_FLAVOR=vault, builds it). Known not to build without overrides: see vi_ensure below.
#
# Upstream's go.mod replaces its nested modules (api, api/auth/*, sdk) with local directories, so
# the wrapper module has to pick published versions for them. By default those are the versions
# upstream's go.mod requires; override any of them (e.g. with a pseudo-version of the tag's commit)
# through VAULT_INJECT_VAULT_SDK, _API, _AUTH_APPROLE, _AUTH_KUBERNETES, _AUTH_USERPASS.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

vi_component vault "${VAULT_INJECT_VAULT_VERSION:-1.21.4}" VAULT_INJECT_VAULT

vi_path() { printf '%s' "$VI_CACHE/$VI_NAME/$VI_VERSION/bin/vault"; }

build() {
  local stage="$1" log="$2" go upstream_mod go_version requires="" pair module var override
  go="$(vi_find_go)"
  vi_go_env
  vi_run "$log" "$go" mod download -json "github.com/hashicorp/vault@v$VI_VERSION"
  upstream_mod="$(sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p' "$log" | tail -n 1)"
  [ -f "$upstream_mod" ] || vi_die "could not find the go.mod of github.com/hashicorp/vault@v$VI_VERSION (log: $log)"
  go_version="$(sed -n 's/^go \([0-9.]*\)$/\1/p' "$upstream_mod")"
  for pair in sdk:SDK api:API api/auth/approle:AUTH_APPROLE api/auth/kubernetes:AUTH_KUBERNETES \
    api/auth/userpass:AUTH_USERPASS; do
    module="github.com/hashicorp/vault/${pair%%:*}"
    var="VAULT_INJECT_VAULT_${pair#*:}"
    override="${!var:-}"
    if [ -n "$override" ]; then
      requires+="require $module $override"$'\n'
    fi
  done
  mkdir -p "$stage/src"
  vi_render "$VI_COMPONENTS_DIR/vault/go.mod.in" "$stage/src/go.mod" \
    "GO_VERSION=$go_version" "VAULT_VERSION=$VI_VERSION" "SDK_REQUIRES=${requires:-// (no overrides)}"
  vi_go_build "$stage" "$log" vault github.com/hashicorp/vault \
    "-s -w -X github.com/hashicorp/vault/version.GitCommit=v$VI_VERSION-module"
  vi_run "$log" "$stage/bin/vault" version
}

# Without an sdk override the build is known to fail (docs/real-stack.md, "HashiCorp Vault"): say
# so at once instead of after twenty minutes of compiling. VAULT_INJECT_VAULT_TRY=1 tries anyway.
vi_ensure() {
  if [ ! -x "$(vi_path)" ] && [ -z "${VAULT_INJECT_VAULT_SDK:-}" ] && [ "${VAULT_INJECT_VAULT_TRY:-}" != 1 ]; then
    vi_die "HashiCorp Vault $VI_VERSION cannot be built here, so VAULT_FLAVOR=vault has no server.
  Upstream's go.mod uses the tag's own ./sdk, which is no published github.com/hashicorp/vault/sdk
  release: 'go build github.com/hashicorp/vault' fails in vault/identity_store.go after about 18
  minutes. No PyPI package found carries the vault binary either. To try: set VAULT_INJECT_VAULT_SDK (and
  VAULT_INJECT_VAULT_API) to pseudo-versions of the v$VI_VERSION commit, or VAULT_INJECT_VAULT_TRY=1
  to attempt the known-failing build. See docs/real-stack.md. The default set (OpenBao) needs none of this."
  fi
  vi_ensure_cached "$VI_VERSION" bin/vault build
}

vi_main "$@"
