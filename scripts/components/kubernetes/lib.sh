# shellcheck shell=bash
# The Kubernetes binaries we build (kube-apiserver.sh, kubectl.sh) share one wrapper module
# (go.mod.in beside this file) and one version. Sourced after ../lib.sh, never run.
#
#   vi_kube_build STAGE LOG BINARY   render the wrapper into STAGE/src and build
#                                    k8s.io/kubernetes/cmd/BINARY into STAGE/bin/BINARY

# The Kubernetes release both are built from (the newest 1.35 patch the module proxy serves).
# shellcheck disable=SC2034 # used by the component scripts
VI_KUBE_VERSION="${VAULT_INJECT_KUBE_VERSION:-1.35.4}"

# vi_kube_wrapper STAGE LOG: STAGE/src/go.mod requiring k8s.io/kubernetes@v$VI_VERSION, with one
#   replace per staging module of upstream's go.mod and upstream's go and godebug lines.
vi_kube_wrapper() {
  local stage="$1" log="$2" go upstream_mod minor go_version godebug replaces
  go="$(vi_find_go)"
  vi_go_env
  minor="${VI_VERSION#*.}"
  minor="${minor%%.*}"

  vi_run "$log" "$go" mod download -json "k8s.io/kubernetes@v$VI_VERSION"
  upstream_mod="$(sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p' "$log" | tail -n 1)"
  [ -f "$upstream_mod" ] || vi_die "could not find the go.mod of k8s.io/kubernetes@v$VI_VERSION (log: $log)"
  go_version="$(sed -n 's/^go \([0-9.]*\)$/\1/p' "$upstream_mod")"
  godebug="$(grep -E '^godebug ' "$upstream_mod" || true)"
  replaces="$(sed -n "s#^[[:space:]]*\(k8s.io/[A-Za-z0-9_.-]*\) => \./staging/src/.*#\t\1 => \1 v0.$minor.${VI_VERSION##*.}#p" "$upstream_mod")"
  [ -n "$replaces" ] || vi_die "no staging replaces found in $upstream_mod"

  mkdir -p "$stage/src"
  vi_render "$VI_COMPONENTS_DIR/kubernetes/go.mod.in" "$stage/src/go.mod" \
    "GO_VERSION=$go_version" "GODEBUG=$godebug" "K8S_VERSION=$VI_VERSION" "STAGING_REPLACES=$replaces"
}

# vi_kube_build STAGE LOG BINARY: the wrapper, then the binary with upstream's version variables
#   (component-base for the servers, client-go for kubectl's client version).
vi_kube_build() {
  local stage="$1" log="$2" binary="$3" minor ldflags pkg
  minor="${VI_VERSION#*.}"
  minor="${minor%%.*}"
  vi_kube_wrapper "$stage" "$log"
  ldflags="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=v$VI_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  vi_go_build "$stage" "$log" "$binary" "k8s.io/kubernetes/cmd/$binary" "$ldflags"
}
