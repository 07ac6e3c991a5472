#!/usr/bin/env bash
# Removes what scripts/kind-up.sh made: the kind cluster (and with it OpenBao, the webhook and the
# sample app) and the two local images.
set -euo pipefail
KIND_CLUSTER="${KIND_CLUSTER:-vault-inject}"

if kind get clusters 2>/dev/null | grep -qx "$KIND_CLUSTER"; then
  kind delete cluster --name "$KIND_CLUSTER"
else
  echo "kind-down: no cluster named $KIND_CLUSTER" >&2
fi
docker image rm vault-inject:dev vault-inject-init:dev >/dev/null 2>&1 || true
