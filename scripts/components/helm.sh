#!/usr/bin/env bash
# helm v3, `go install`ed from helm.sh/helm/v3 (its go.mod has no replace directives) into the cache.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

vi_component helm "${VAULT_INJECT_HELM_VERSION:-3.22.0}" VAULT_INJECT_HELM

vi_path() { printf '%s' "$VI_CACHE/$VI_NAME/$VI_VERSION/bin/helm"; }

build() {
  local stage="$1" log="$2" go mod client_go major minor
  go="$(vi_find_go)"
  vi_go_env
  # Helm's Makefile derives the Kubernetes version it reports (.Capabilities.KubeVersion) from its
  # client-go; without these flags `helm template` would claim Kubernetes v1.20.
  vi_run "$log" "$go" mod download -json "helm.sh/helm/v3@v$VI_VERSION"
  mod="$(sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p' "$log" | tail -n 1)"
  [ -f "$mod" ] || vi_die "could not find the go.mod of helm.sh/helm/v3@v$VI_VERSION (log: $log)"
  client_go="$(sed -n 's/^[[:space:]]*k8s.io\/client-go v0\.\([0-9]*\)\.[0-9]*.*/\1/p' "$mod" | awk 'NR == 1')"
  [ -n "$client_go" ] || vi_die "no k8s.io/client-go requirement in $mod"
  major=1
  minor="$client_go"
  mkdir -p "$stage/bin"
  vi_log "go install helm.sh/helm/v3/cmd/helm@v$VI_VERSION ($("$go" env GOVERSION))"
  GOBIN="$stage/bin" vi_run "$log" nice -n 10 "$go" install -trimpath -ldflags "-s -w \
-X helm.sh/helm/v3/internal/version.version=v$VI_VERSION \
-X helm.sh/helm/v3/internal/version.gitTreeState=clean \
-X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=$major \
-X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$minor \
-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=$major \
-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$minor" \
    "helm.sh/helm/v3/cmd/helm@v$VI_VERSION"
  vi_run "$log" "$stage/bin/helm" version
}

vi_ensure() { vi_ensure_cached "$VI_VERSION" bin/helm build; }

vi_main "$@"
