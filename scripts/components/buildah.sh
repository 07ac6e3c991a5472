#!/usr/bin/env bash
# buildah from Debian's buildah package: builds the final stage of Dockerfile.init (FROM scratch)
# offline in the deploy tests, with vfs storage in a temporary directory. No daemon.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# The version is Debian's; it is reported, not chosen.
vi_component buildah "$(vi_apt_installed buildah)" VAULT_INJECT_BUILDAH

vi_path() { printf '%s' /usr/bin/buildah; }

vi_ensure() { vi_apt_ensure buildah "$(vi_path)"; }

vi_main "$@"
