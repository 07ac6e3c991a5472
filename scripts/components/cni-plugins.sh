#!/usr/bin/env bash
# The CNI plugins of the local node (bridge, host-local, loopback) from Debian's
# containernetworking-plugins, in /usr/lib/cni.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# The version is Debian's; it is reported, not chosen.
vi_component cni-plugins "$(vi_apt_installed containernetworking-plugins)" VAULT_INJECT_CNI_BRIDGE

vi_path() { printf '%s' /usr/lib/cni/bridge; }

vi_ensure() {
  vi_apt_ensure containernetworking-plugins "$(vi_path)"
  local p
  for p in host-local loopback; do
    [ -x "/usr/lib/cni/$p" ] || vi_die "/usr/lib/cni/$p is missing; reinstall containernetworking-plugins"
  done
}

vi_main "$@"
