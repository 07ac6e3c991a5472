#!/usr/bin/env bash
# The OCI registry (CNCF distribution 2.8) from Debian's docker-registry package, for tests that push
# images and let the webhook look up their config. Run it as `docker-registry serve CONFIG.yml`.
# Also Debian's apache2-utils for `htpasswd -B`: the registry's htpasswd auth reads bcrypt only, and
# Python's crypt module (the test env's fallback) is gone from Python 3.13.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# The version is Debian's; it is reported, not chosen.
vi_component registry "$(vi_apt_installed docker-registry)" VAULT_INJECT_REGISTRY

vi_path() { printf '%s' /usr/bin/docker-registry; }

vi_ensure() {
  # One summary line per component on stdout: htpasswd's goes to stderr.
  vi_apt_ensure apache2-utils /usr/bin/htpasswd >&2
  vi_apt_ensure docker-registry "$(vi_path)"
}

vi_main "$@"
