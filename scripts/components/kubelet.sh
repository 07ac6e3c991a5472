#!/usr/bin/env bash
# kubelet (Kubernetes 1.35), the node agent of the local stack's real node, built from the
# k8s.io/kubernetes module through the wrapper module shared with kube-apiserver and kubectl
# (kubernetes/lib.sh), so it reuses their module and build caches and always matches the apiserver.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=kubernetes/lib.sh
. "$VI_COMPONENTS_DIR/kubernetes/lib.sh"

vi_component kubelet "$VI_KUBE_VERSION" VAULT_INJECT_KUBELET

vi_path() { printf '%s' "$VI_CACHE/$VI_NAME/$VI_VERSION/bin/kubelet"; }

build() {
  local stage="$1" log="$2"
  vi_kube_build "$stage" "$log" kubelet
  vi_run "$log" "$stage/bin/kubelet" --version
  grep -qx "Kubernetes v$VI_VERSION" "$log" ||
    vi_die "expected kubelet --version to say Kubernetes v$VI_VERSION (log: $log)"
}

vi_ensure() { vi_ensure_cached "$VI_VERSION" bin/kubelet build; }

vi_main "$@"
