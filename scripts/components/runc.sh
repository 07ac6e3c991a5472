#!/usr/bin/env bash
# runc, the OCI runtime the local node's containerd starts containers with. Built with cgo and
# seccomp (Debian's libseccomp-dev) so that runc enforces the pods' seccompProfile like on a cluster.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

vi_component runc "${VAULT_INJECT_RUNC_VERSION:-1.4.4}" VAULT_INJECT_RUNC

vi_path() { printf '%s' "$VI_CACHE/$VI_NAME/$VI_VERSION/bin/runc"; }

build() {
  local stage="$1" log="$2" go commit
  go="$(vi_find_go)"
  vi_go_env
  export CGO_ENABLED=1
  mkdir -p "$stage/src" "$stage/bin"
  vi_render "$VI_COMPONENTS_DIR/runc/go.mod.in" "$stage/src/go.mod" "RUNC_VERSION=$VI_VERSION"
  vi_run "$log" "$go" -C "$stage/src" mod download -json "github.com/opencontainers/runc@v$VI_VERSION"
  commit="v$VI_VERSION"
  vi_log "go build github.com/opencontainers/runc (cgo, seccomp; about a minute when cold)"
  vi_run "$log" nice -n 10 "$go" -C "$stage/src" build -trimpath -tags 'seccomp urfave_cli_no_docs' \
    -ldflags "-s -w -X main.version=$VI_VERSION -X main.gitCommit=$commit" \
    -o "$stage/bin/runc" github.com/opencontainers/runc
  vi_run "$log" "$stage/bin/runc" --version
  grep -q "^runc version $VI_VERSION" "$log" || vi_die "expected runc --version to say $VI_VERSION (log: $log)"
  grep -q '^libseccomp: ' "$log" || vi_die "runc was built without seccomp (log: $log)"
}

vi_ensure() {
  # cgo with seccomp: the headers and the library (the build links it dynamically).
  vi_apt_ensure libseccomp-dev /usr/include/seccomp.h >/dev/null
  vi_ensure_cached "$VI_VERSION" bin/runc build
}

vi_main "$@"
