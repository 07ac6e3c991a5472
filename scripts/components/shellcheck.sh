#!/usr/bin/env bash
# The shell script linter from Debian's shellcheck package, for the tests that lint our scripts.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# The version is Debian's; it is reported, not chosen.
vi_component shellcheck "$(vi_apt_installed shellcheck)" VAULT_INJECT_SHELLCHECK

vi_path() { printf '%s' /usr/bin/shellcheck; }

vi_ensure() { vi_apt_ensure shellcheck "$(vi_path)"; }

vi_main "$@"
