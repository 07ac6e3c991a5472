#!/usr/bin/env bash
# The local real stack in the background (docs/testing.md, "For a person"):
#
#   eval "$(scripts/dev-env.sh up)"   etcd, kube-apiserver, OpenBao dev server, the built webhook
#                                     and a real node (kubelet, containerd, runc)
#   scripts/dev-env.sh env            the export lines again (VAULT_ADDR, VAULT_TOKEN, KUBECONFIG, ...)
#   scripts/dev-env.sh down           stop everything it started
#
# Uses the project's Node.js and the cached components; builds the webhook and the bundle (the
# node's init image) when dist/ lacks them.
# State lives in $VAULT_INJECT_DEV_ENV_DIR (default ${XDG_RUNTIME_DIR:-/tmp}/vault-inject-dev-env).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

case "${1:-}" in
  up | env | down) ;;
  *)
    echo "usage: scripts/dev-env.sh up|env|down" >&2
    exit 2
    ;;
esac

node_bin="$(scripts/ensure-node.sh)"
export PATH="$node_bin:$root/node_modules/.bin:$PATH"

if [ "$1" = up ]; then
  # Everything but the export lines goes to stderr, so `eval "$(scripts/dev-env.sh up)"` works.
  if [ ! -f node_modules/.installed ]; then make -s deps >&2; fi
  eval "$(scripts/components.sh --env)"
  if [ ! -f dist/webhook/vault-inject.js ]; then node scripts/build.ts webhook >&2; fi
  if [ ! -x dist/bundle/vault-inject/bin/vault-inject-env ]; then
    scripts/bundle.sh dist/bundle/vault-inject >&2
  fi
fi

exec node scripts/dev-env.ts "$1"
