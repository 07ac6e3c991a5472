#!/usr/bin/env bash
# Renders the plain manifests (deploy/manifests/vault-inject.yaml) from the Helm chart: a default
# install in namespace vault-inject. The default certificate mode `auto` renders no key, no
# certificate and no caBundle (the webhook fills its empty Secret and writes the caBundle), so the
# file is the same on every render and safe to check in. `make manifests` runs this; a test renders
# again and fails when the checked-in file is out of date.
#
# With no OUT_DIR it also writes the chart's README from values.yaml (scripts/chart-readme.ts).
#
# Usage: scripts/render-manifests.sh [OUT_DIR]   (default: deploy/manifests)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-deploy/manifests}"
helm="${VAULT_INJECT_HELM:-$(scripts/components/helm.sh path 2>/dev/null || true)}"
[ -x "$helm" ] || helm="$(scripts/components/helm.sh ensure >/dev/null && scripts/components/helm.sh path)"

namespace=vault-inject
mkdir -p "$out"
{
  cat <<HEADER
# vault-inject: plain manifests, rendered from deploy/chart by scripts/render-manifests.sh
# (make manifests). Do not edit: change the chart and render again.
#
# The webhook creates its own CA and serving certificate in the Secret vault-inject-tls and writes
# the caBundle of the MutatingWebhookConfiguration (certificate mode "auto").
# Install: kubectl apply -f vault-inject.yaml   Settings: docs/deploy.md
---
apiVersion: v1
kind: Namespace
metadata:
  name: $namespace
  labels:
    pod-security.kubernetes.io/enforce: restricted
    pod-security.kubernetes.io/audit: restricted
    pod-security.kubernetes.io/warn: restricted
HEADER
  # --kube-version: the oldest Kubernetes the chart supports with every default on.
  "$helm" template vault-inject deploy/chart \
    --namespace "$namespace" \
    --kube-version 1.30.0
} >"$out/vault-inject.yaml.tmp"
mv "$out/vault-inject.yaml.tmp" "$out/vault-inject.yaml"
printf 'render-manifests: wrote %s\n' "$out/vault-inject.yaml" >&2
if [ $# -eq 0 ]; then
  node scripts/chart-readme.ts
fi
