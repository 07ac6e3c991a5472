#!/usr/bin/env bash
# kube-apiserver (Kubernetes 1.35), built from the k8s.io/kubernetes module through the wrapper
# module shared with kubectl (kubernetes/lib.sh).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=kubernetes/lib.sh
. "$VI_COMPONENTS_DIR/kubernetes/lib.sh"

vi_component kube-apiserver "$VI_KUBE_VERSION" VAULT_INJECT_KUBE_APISERVER

vi_path() { printf '%s' "$VI_CACHE/$VI_NAME/$VI_VERSION/bin/kube-apiserver"; }

build() {
  local stage="$1" log="$2"
  vi_kube_build "$stage" "$log" kube-apiserver
  vi_run "$log" "$stage/bin/kube-apiserver" --version
  grep -qx "Kubernetes v$VI_VERSION" "$log" ||
    vi_die "expected kube-apiserver --version to say Kubernetes v$VI_VERSION (log: $log)"
}

vi_ensure() { vi_ensure_cached "$VI_VERSION" bin/kube-apiserver build; }

vi_main "$@"
