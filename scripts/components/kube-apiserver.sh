#!/usr/bin/env bash
# kube-apiserver (Kubernetes 1.35), built from the k8s.io/kubernetes module through a wrapper module.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

vi_component kube-apiserver "${VAULT_INJECT_KUBE_VERSION:-1.35.4}" VAULT_INJECT_KUBE_APISERVER

vi_path() { printf '%s' "$VI_CACHE/$VI_NAME/$VI_VERSION/bin/kube-apiserver"; }

build() {
  local stage="$1" log="$2" go upstream_mod minor go_version godebug replaces
  go="$(vi_find_go)"
  vi_go_env
  minor="${VI_VERSION#*.}"
  minor="${minor%%.*}"

  # Upstream's go.mod decides the staging modules, the go line and the godebug line.
  vi_run "$log" "$go" mod download -json "k8s.io/kubernetes@v$VI_VERSION"
  upstream_mod="$(sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p' "$log" | tail -n 1)"
  [ -f "$upstream_mod" ] || vi_die "could not find the go.mod of k8s.io/kubernetes@v$VI_VERSION (log: $log)"
  go_version="$(sed -n 's/^go \([0-9.]*\)$/\1/p' "$upstream_mod")"
  godebug="$(grep -E '^godebug ' "$upstream_mod" || true)"
  replaces="$(sed -n "s#^[[:space:]]*\(k8s.io/[A-Za-z0-9_.-]*\) => \./staging/src/.*#\t\1 => \1 v0.$minor.${VI_VERSION##*.}#p" "$upstream_mod")"
  [ -n "$replaces" ] || vi_die "no staging replaces found in $upstream_mod"

  mkdir -p "$stage/src"
  vi_render "$VI_COMPONENTS_DIR/kube-apiserver/go.mod.in" "$stage/src/go.mod" \
    "GO_VERSION=$go_version" "GODEBUG=$godebug" "K8S_VERSION=$VI_VERSION" "STAGING_REPLACES=$replaces"
  vi_go_build "$stage" "$log" kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver \
    "-s -w -X k8s.io/component-base/version.gitVersion=v$VI_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean -X k8s.io/component-base/version.buildDate=1970-01-01T00:00:00Z"
  vi_run "$log" "$stage/bin/kube-apiserver" --version
}

vi_ensure() { vi_ensure_cached "$VI_VERSION" bin/kube-apiserver build; }

vi_main "$@"
