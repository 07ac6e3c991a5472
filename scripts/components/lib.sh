# shellcheck shell=bash
# Shared helpers for the component scripts. Sourced, never run.
#
# Every component lives in "$VI_CACHE/<name>/<version>/". A version directory appears only through
# one `mv` of a finished staging directory, so its presence means "complete". A failed build removes
# its ".stage-*" directory; a killed one leaves it behind (removed on the next run), never a half
# cache. A per-component flock makes concurrent runs wait for one build instead of racing.
#
# Interface of every component script (see vi_main):
#   NAME.sh [ensure]              make sure it is present; progress on stderr, one summary line on stdout
#   NAME.sh path | --print-path   the binary's path (exit 1, with a message, when it is not there yet)
#   NAME.sh version | --version   the pinned version
#   NAME.sh env | --env           an `export VAULT_INJECT_…=…` line

VI_CACHE="${VAULT_INJECT_CACHE:-$HOME/.cache/vault-inject}"
# shellcheck disable=SC2034 # used by the component scripts
VI_COMPONENTS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

VI_NAME=component VI_VERSION='' VI_ENV=''

# vi_component NAME VERSION ENV_VAR: what the script is about; call first.
vi_component() {
  VI_NAME="$1"
  VI_VERSION="$2"
  VI_ENV="$3"
}

vi_log() { printf '%s: %s\n' "$VI_NAME" "$*" >&2; }

vi_die() {
  printf '%s: error: %s\n' "$VI_NAME" "$*" >&2
  exit 1
}

# What to undo when the script exits early, the build command running now and its progress
# ticker (see vi_run).
VI_CLEANUP=()
VI_CHILD=""
VI_TICKER=""

# Seconds between two progress lines of a long command (VAULT_INJECT_PROGRESS_SECONDS; the tests
# shorten it).
VI_PROGRESS_SECONDS="${VAULT_INJECT_PROGRESS_SECONDS:-30}"

vi_cleanup() {
  local c
  for c in "${VI_CLEANUP[@]}"; do
    eval "$c" || true
  done
}

# INT/TERM: stop the running build command too (not only this shell), then exit, which runs
# vi_cleanup. (Asynchronous commands of a non-interactive shell ignore SIGINT, so the child is sent
# SIGTERM.)
vi_on_signal() {
  vi_ticker_stop
  if [ -n "$VI_CHILD" ]; then
    kill "$VI_CHILD" 2>/dev/null || true
    wait "$VI_CHILD" 2>/dev/null || true
  fi
  vi_log "interrupted"
  exit "$1"
}

vi_traps() {
  trap vi_cleanup EXIT
  trap 'vi_on_signal 130' INT
  trap 'vi_on_signal 143' TERM
}

# Microseconds since the epoch (bash 5's EPOCHREALTIME, no fork).
vi_now_us() { local t="${EPOCHREALTIME/[.,]/}"; printf '%s' "$((10#$t))"; }

# Seconds with one decimal between a vi_now_us start and now.
vi_elapsed() {
  local start="$1" now d
  now="$(vi_now_us)"
  d=$(((now - start) / 100000))
  printf '%d.%ds' "$((d / 10))" "$((d % 10))"
}

# vi_quote ARGS...: a command line as one would type it (quotes only where needed).
vi_quote() {
  local a out=""
  for a in "$@"; do
    if [[ "$a" =~ ^[A-Za-z0-9_./:=@,+-]+$ ]]; then
      out+=" $a"
    else
      out+=" $(printf '%q' "$a")"
    fi
  done
  printf '%s' "${out# }"
}

# vi_ticker WHAT START: every VI_PROGRESS_SECONDS, one line on stderr saying that WHAT still runs
#   and for how long (so a compile of several minutes is never silent). Run in the background.
vi_ticker() {
  local what="$1" start="$2" nap
  # Waits with `read -t` on a pipe nobody writes to rather than with sleep: no child process that
  # could outlive the ticker and hold the caller's stderr open.
  exec {nap}<> <(:)
  while ! read -r -t "$VI_PROGRESS_SECONDS" -u "$nap"; do
    vi_log "still running after $(vi_elapsed "$start"): $what"
  done
}

# SIGKILL: the ticker is a subshell that may not have dropped the parent's traps yet, and a TERM
# trap of the parent's run there would remove the build's staging directory.
vi_ticker_stop() {
  if [ -n "$VI_TICKER" ]; then
    kill -KILL "$VI_TICKER" 2>/dev/null || true
    wait "$VI_TICKER" 2>/dev/null || true
    VI_TICKER=""
  fi
}

# vi_run LOG CMD...: run CMD with its output appended to LOG, with a progress line every
# VI_PROGRESS_SECONDS; on failure name the component, the command and its exit code, show the end
# of the log, and exit.
vi_run() {
  local log="$1" rc=0 what
  shift
  what="$(vi_quote "$@")"
  printf '+ %s\n' "$what" >>"$log"
  [ "${#what}" -le 120 ] || what="${what:0:117}..."
  # In the background and waited for, so that a signal reaches vi_on_signal at once. `<&0`: an
  # asynchronous command's stdin would otherwise be /dev/null, losing a here-document given to
  # vi_run (the wheel extraction scripts).
  "$@" <&0 >>"$log" 2>&1 &
  VI_CHILD=$!
  vi_ticker "$what" "$(vi_now_us)" &
  VI_TICKER=$!
  wait "$VI_CHILD" || rc=$?
  VI_CHILD=""
  vi_ticker_stop
  if [ "$rc" -ne 0 ]; then
    printf '%s: error: command failed (exit %d): %s\n' "$VI_NAME" "$rc" "$(vi_quote "$@")" >&2
    printf '%s: last lines of %s:\n' "$VI_NAME" "$log" >&2
    tail -n 30 "$log" | sed 's/^/    /' >&2
    exit "$rc"
  fi
}

# vi_summary STATUS ELAPSED VERSION PATH: the one line per component that components.sh collects.
vi_summary() {
  printf '%-15s %-22s %-9s %7s  %s\n' "$VI_NAME" "$3" "$1" "$2" "$4"
}

# vi_find_go: the Go toolchain to build with (GO, then PATH, then the official tarball location).
vi_find_go() {
  local go="${GO:-}"
  if [ -z "$go" ]; then
    go="$(command -v go || true)"
  fi
  if [ -z "$go" ] && [ -x /usr/local/go/bin/go ]; then
    go=/usr/local/go/bin/go
  fi
  [ -n "$go" ] || vi_die "no Go toolchain found (set GO=/path/to/go or put go on PATH)"
  printf '%s' "$go"
}

# vi_go_env: the environment every Go build of ours uses. The normal module and build caches are kept.
vi_go_env() {
  export CGO_ENABLED=0
  export GOFLAGS=-mod=mod
}

# vi_render TEMPLATE OUT KEY=VALUE...: copy TEMPLATE to OUT replacing each @KEY@ with VALUE.
vi_render() {
  local template="$1" out="$2" kv key value content
  shift 2
  content="$(<"$template")"
  for kv in "$@"; do
    key="${kv%%=*}"
    value="${kv#*=}"
    content="${content//@"$key"@/"$value"}"
  done
  if [[ "$content" == *@[A-Z_]*@* ]]; then
    local left
    left="$(grep -o '@[A-Z_]*@' <<<"$content" | sort -u | tr '\n' ' ')"
    vi_die "template $template: placeholders left unset: $left"
  fi
  printf '%s\n' "$content" >"$out"
}

# vi_ensure_cached VERSION BIN_REL BUILD_FN
#   Present: print the summary ("cached") and return. Missing: take the component's lock, build with
#   BUILD_FN STAGE_DIR LOG into a staging directory next to the final one, check that BIN_REL is
#   executable there, then move the staging directory into place.
vi_ensure_cached() {
  local version="$1" bin_rel="$2" build_fn="$3"
  local base="$VI_CACHE/$VI_NAME" dest="$VI_CACHE/$VI_NAME/$version" start
  start="$(vi_now_us)"
  if [ -x "$dest/$bin_rel" ]; then
    vi_summary cached "$(vi_elapsed "$start")" "$version" "$dest/$bin_rel"
    return 0
  fi

  mkdir -p "$base"
  local lock_fd
  exec {lock_fd}>"$base/.lock"
  if ! flock -n "$lock_fd"; then
    vi_log "another build of $VI_NAME is running; waiting for it"
    flock "$lock_fd"
  fi
  if [ -x "$dest/$bin_rel" ]; then # built by whoever held the lock
    exec {lock_fd}>&-
    vi_summary cached "$(vi_elapsed "$start")" "$version" "$dest/$bin_rel"
    return 0
  fi
  if [ -e "$dest" ]; then
    vi_log "removing incomplete $dest"
    rm -rf "$dest"
  fi
  # Leftovers of interrupted builds (we hold the lock, so nobody else is using them).
  rm -rf "$base"/.stage-*

  local stage log
  stage="$(mktemp -d "$base/.stage-$version-XXXXXX")"
  VI_CLEANUP+=("rm -rf $(printf '%q' "$stage")")
  vi_traps
  chmod 755 "$stage" # mktemp -d makes it 0700; the cache is read by other users too
  mkdir -p "$base/logs"
  log="$base/logs/$version.log"
  : >"$log"
  vi_log "building $VI_NAME $version (log: $log)"
  "$build_fn" "$stage" "$log"
  [ -x "$stage/$bin_rel" ] || vi_die "build finished but $bin_rel is missing (log: $log)"
  {
    printf 'component=%s\nversion=%s\nbuilt=%s\ntook=%s\n' \
      "$VI_NAME" "$version" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$(vi_elapsed "$start")"
  } >"$stage/BUILD-INFO"
  mv -T "$stage" "$dest"
  VI_CLEANUP=()
  exec {lock_fd}>&-
  local took
  took="$(vi_elapsed "$start")"
  vi_log "built $VI_NAME $version in $took"
  vi_summary built "$took" "$version" "$dest/$bin_rel"
}

# vi_main ARGS...: the command-line interface shared by every component script. The script sets
#   calls vi_component and defines vi_path and vi_ensure.
vi_main() {
  local cmd="${1:-ensure}"
  case "$cmd" in
    ensure) vi_ensure ;;
    path | --print-path)
      local p
      p="$(vi_path)"
      if [ ! -x "$p" ]; then
        vi_log "not present at $p; run scripts/components/$VI_NAME.sh (or scripts/components.sh) first"
        return 1
      fi
      printf '%s\n' "$p"
      ;;
    version | --version) printf '%s\n' "$VI_VERSION" ;;
    env | --env) printf 'export %s=%q\n' "$VI_ENV" "$(vi_path)" ;;
    -h | --help | help)
      printf 'usage: %s [ensure | path | version | env]\n' "$(basename "$0")"
      ;;
    *)
      vi_log "unknown command: $cmd"
      printf 'usage: %s [ensure | path | version | env]\n' "$(basename "$0")" >&2
      return 2
      ;;
  esac
}

# vi_go_build STAGE LOG OUT_BIN PACKAGE LDFLAGS: build PACKAGE from the wrapper module in STAGE/src
#   (already rendered) into STAGE/bin/OUT_BIN, niced, static, trimmed. The wrapper's go.mod and
#   go.sum stay in the cache beside the binary as the record of what was built.
vi_go_build() {
  local stage="$1" log="$2" out="$3" pkg="$4" ldflags="$5" go
  go="$(vi_find_go)"
  vi_go_env
  mkdir -p "$stage/bin"
  vi_log "go build $pkg ($("$go" env GOVERSION), $(nproc) cores; takes minutes when cold)"
  vi_run "$log" nice -n 10 "$go" -C "$stage/src" build -trimpath -ldflags "$ldflags" -o "$stage/bin/$out" "$pkg"
}

# vi_apt_installed PACKAGE: its installed version, or nothing.
vi_apt_installed() {
  { dpkg-query -W -f='${db:Status-Abbrev}${Version}' "$1" 2>/dev/null || true; } | sed -n 's/^ii *//p'
}

# vi_apt_has FILE: FILE is there: executable, or a plain file for what is not a program (a header).
vi_apt_has() {
  case "$1" in
    *.h) [ -f "$1" ] ;;
    *) [ -x "$1" ] ;;
  esac
}

# vi_apt_ensure PACKAGE BIN: install a Debian package unless it is installed; print the summary.
#   BIN is a program the package installs (or, for a -dev package, a header it installs).
#   Services the package ships are not started (a policy-rc.d is put in place for the install when
#   the machine has none).
vi_apt_ensure() {
  local pkg="$1" bin="$2" start version
  start="$(vi_now_us)"
  version="$(vi_apt_installed "$pkg")"
  if [ -n "$version" ] && vi_apt_has "$bin"; then
    vi_summary cached "$(vi_elapsed "$start")" "$version" "$bin"
    return 0
  fi
  command -v apt-get >/dev/null || vi_die "$pkg is not installed and there is no apt-get to install it"
  # One apt-get at a time among our scripts (apt's own lock would make the second one fail).
  mkdir -p "$VI_CACHE"
  local lock_fd
  exec {lock_fd}>"$VI_CACHE/.apt.lock"
  flock "$lock_fd"
  version="$(vi_apt_installed "$pkg")"
  if [ -n "$version" ] && vi_apt_has "$bin"; then
    exec {lock_fd}>&-
    vi_summary cached "$(vi_elapsed "$start")" "$version" "$bin"
    return 0
  fi
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || vi_die "$pkg is not installed; run as root or install it: apt-get install $pkg"
    sudo=(sudo)
  fi
  mkdir -p "$VI_CACHE/logs"
  local log="$VI_CACHE/logs/apt-$pkg.log" policy=/usr/sbin/policy-rc.d added_policy=""
  : >"$log"
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\n# temporary, from vault-inject: do not start services during the install\nexit 101\n' |
      "${sudo[@]}" tee "$policy" >/dev/null
    "${sudo[@]}" chmod 755 "$policy"
    added_policy=1
    VI_CLEANUP+=("${sudo[*]} rm -f $policy")
    vi_traps
  fi
  vi_log "installing Debian package $pkg (log: $log)"
  local rc=0
  (
    export DEBIAN_FRONTEND=noninteractive
    vi_run "$log" "${sudo[@]}" apt-get update
    vi_run "$log" "${sudo[@]}" apt-get install -y --no-install-recommends "$pkg"
  ) || rc=$?
  if [ -n "$added_policy" ]; then
    "${sudo[@]}" rm -f "$policy"
    VI_CLEANUP=()
  fi
  exec {lock_fd}>&-
  [ "$rc" -eq 0 ] || exit "$rc"
  version="$(vi_apt_installed "$pkg")"
  if [ -z "$version" ] || ! vi_apt_has "$bin"; then
    vi_die "$pkg installed but $bin is missing (log: $log)"
  fi
  vi_summary installed "$(vi_elapsed "$start")" "$version" "$bin"
}
