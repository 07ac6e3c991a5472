#!/usr/bin/env bash
# containerd v2 (>= 2.1 mounts image volumes) and its runc shim, the container runtime of the local
# stack's real node. Static (no cgo), without the btrfs snapshotter.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

vi_component containerd "${VAULT_INJECT_CONTAINERD_VERSION:-2.2.10}" VAULT_INJECT_CONTAINERD

vi_path() { printf '%s' "$VI_CACHE/$VI_NAME/$VI_VERSION/bin/containerd"; }

build() {
  local stage="$1" log="$2" go cmd ldflags
  go="$(vi_find_go)"
  vi_go_env
  mkdir -p "$stage/src" "$stage/bin"
  vi_render "$VI_COMPONENTS_DIR/containerd/go.mod.in" "$stage/src/go.mod" "CONTAINERD_VERSION=$VI_VERSION"
  vi_run "$log" "$go" -C "$stage/src" mod download -json "github.com/containerd/containerd/v2@v$VI_VERSION"
  ldflags="-s -w -X github.com/containerd/containerd/v2/version.Version=v$VI_VERSION"
  ldflags+=" -X github.com/containerd/containerd/v2/version.Revision=v$VI_VERSION"
  for cmd in containerd containerd-shim-runc-v2 ctr; do
    vi_log "go build github.com/containerd/containerd/v2/cmd/$cmd"
    vi_run "$log" nice -n 10 "$go" -C "$stage/src" build -trimpath -tags 'no_btrfs urfave_cli_no_docs' \
      -ldflags "$ldflags" -o "$stage/bin/$cmd" "github.com/containerd/containerd/v2/cmd/$cmd"
  done
  vi_run "$log" "$stage/bin/containerd" --version
  grep -q "containerd.*v$VI_VERSION" "$log" || vi_die "expected containerd --version to say v$VI_VERSION (log: $log)"
}

vi_ensure() { vi_ensure_cached "$VI_VERSION" bin/containerd build; }

vi_main "$@"
