#!/usr/bin/env bash
# Renders the plain manifests (deploy/manifests/vault-inject.yaml) from the Helm chart: a default
# install in namespace vault-inject, with the one value a plain file needs changed:
# certificates.mode=cert-manager, because the chart's default `auto` mode generates a CA and key
# at install time, and a private key must never be checked in. `make manifests` runs this; a test
# renders again and fails when the checked-in file is out of date.
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
# Needs cert-manager (its CA injector writes the webhook configuration's caBundle).
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
    --kube-version 1.30.0 \
    --set certificates.mode=cert-manager
} >"$out/vault-inject.yaml.tmp"
mv "$out/vault-inject.yaml.tmp" "$out/vault-inject.yaml"
printf 'render-manifests: wrote %s\n' "$out/vault-inject.yaml" >&2
