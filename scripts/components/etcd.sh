#!/usr/bin/env bash
# etcd 3.6, the store behind kube-apiserver, built from go.etcd.io/etcd/server/v3 through a wrapper
# module. (Debian's etcd 3.4 is too old for the watch features of current apiservers.)
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

vi_component etcd "${VAULT_INJECT_ETCD_VERSION:-3.6.16}" VAULT_INJECT_ETCD

vi_path() { printf '%s' "$VI_CACHE/$VI_NAME/$VI_VERSION/bin/etcd"; }

build() {
  local stage="$1" log="$2"
  mkdir -p "$stage/src"
  vi_render "$VI_COMPONENTS_DIR/etcd/go.mod.in" "$stage/src/go.mod" "ETCD_VERSION=$VI_VERSION"
  vi_go_build "$stage" "$log" etcd go.etcd.io/etcd/server/v3 "-s -w"
  vi_run "$log" "$stage/bin/etcd" --version
}

vi_ensure() { vi_ensure_cached "$VI_VERSION" bin/etcd build; }

vi_main "$@"
