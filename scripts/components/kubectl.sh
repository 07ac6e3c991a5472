#!/usr/bin/env bash
# kubectl, the same Kubernetes release as kube-apiserver and built from the same wrapper module
# (kubernetes/lib.sh): the deploy tests run it against the local apiserver.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=kubernetes/lib.sh
. "$VI_COMPONENTS_DIR/kubernetes/lib.sh"

vi_component kubectl "$VI_KUBE_VERSION" VAULT_INJECT_KUBECTL

vi_path() { printf '%s' "$VI_CACHE/$VI_NAME/$VI_VERSION/bin/kubectl"; }

build() {
  local stage="$1" log="$2"
  vi_kube_build "$stage" "$log" kubectl
  vi_run "$log" "$stage/bin/kubectl" version --client
  grep -qx "Client Version: v$VI_VERSION" "$log" ||
    vi_die "expected kubectl version --client to say v$VI_VERSION (log: $log)"
}

vi_ensure() { vi_ensure_cached "$VI_VERSION" bin/kubectl build; }

vi_main "$@"
