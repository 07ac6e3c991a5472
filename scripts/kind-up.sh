#!/usr/bin/env bash
# Quick start on kind, for users with Docker: a kind cluster, OpenBao in dev mode (its official
# chart), Kubernetes auth and a demo secret, our two images built and loaded, the vault-inject
# chart installed, and a sample app whose log shows the secret it was given. Undo with
# scripts/kind-down.sh.
#
# Needs: docker, kind, kubectl, helm. Settings (environment):
#   KIND_CLUSTER   cluster name (default vault-inject)
#   KUBE_CONTEXT   kubectl/helm context (default kind-$KIND_CLUSTER; empty: the current one)
#   KUBECTL, HELM  the commands to use (default kubectl, helm)
#
# Every step is a function; STEPS lists them in order. The steps in CLUSTER_STEPS only talk to the
# API server (no kubelet needed): the test suite runs exactly those against its local
# kube-apiserver (test/integration/deploy/kind-up.test.ts), by sourcing this file.
set -euo pipefail

KIND_CLUSTER="${KIND_CLUSTER:-vault-inject}"
KUBE_CONTEXT="${KUBE_CONTEXT-kind-$KIND_CLUSTER}"
KUBECTL="${KUBECTL:-kubectl}"
HELM="${HELM:-helm}"
IMAGE_TAG=dev
WEBHOOK_IMAGE=vault-inject
INIT_IMAGE=vault-inject-init
OPENBAO_NAMESPACE=openbao
OPENBAO_CHART_VERSION=0.16.2
DEMO_NAMESPACE=demo
RELEASE_NAMESPACE=vault-inject

STEPS=(check_tools create_cluster build_images load_images install_openbao configure_openbao
  create_demo_namespace install_webhook wait_for_webhook deploy_app show_app_log)
# shellcheck disable=SC2034 # read by the test that sources this file
CLUSTER_STEPS=(create_demo_namespace install_webhook deploy_app)

say() { printf '\n==> %s\n' "$*" >&2; }
die() {
  printf 'kind-up: %s\n' "$*" >&2
  exit 1
}

context_args() {
  if [ -n "$KUBE_CONTEXT" ]; then printf '%s\n' --context "$KUBE_CONTEXT"; fi
}
kc() {
  local ctx
  mapfile -t ctx < <(context_args)
  "$KUBECTL" "${ctx[@]}" "$@"
}
hm() {
  local ctx
  mapfile -t ctx < <(context_args)
  [ ${#ctx[@]} -eq 0 ] || ctx=(--kube-context "$KUBE_CONTEXT")
  "$HELM" "${ctx[@]}" "$@"
}

check_tools() {
  local tool
  for tool in docker kind "$KUBECTL" "$HELM"; do
    command -v "$tool" >/dev/null || die "$tool is needed (see README: Quick start on kind)"
  done
  docker info >/dev/null 2>&1 || die "docker is installed but no Docker engine answers"
}

create_cluster() {
  say "kind cluster $KIND_CLUSTER"
  if kind get clusters 2>/dev/null | grep -qx "$KIND_CLUSTER"; then
    echo "already there" >&2
  else
    kind create cluster --name "$KIND_CLUSTER" --wait 120s
  fi
}

build_images() {
  say "building $WEBHOOK_IMAGE:$IMAGE_TAG and $INIT_IMAGE:$IMAGE_TAG"
  docker build -f Dockerfile.webhook -t "$WEBHOOK_IMAGE:$IMAGE_TAG" .
  docker build -f Dockerfile.init -t "$INIT_IMAGE:$IMAGE_TAG" .
}

load_images() {
  say "loading the images into kind"
  kind load docker-image --name "$KIND_CLUSTER" "$WEBHOOK_IMAGE:$IMAGE_TAG" "$INIT_IMAGE:$IMAGE_TAG"
}

install_openbao() {
  say "OpenBao (dev mode: in memory, unsealed, root token 'root')"
  hm repo add openbao https://openbao.github.io/openbao-helm >/dev/null
  hm repo update openbao >/dev/null
  hm upgrade --install openbao openbao/openbao --version "$OPENBAO_CHART_VERSION" \
    --namespace "$OPENBAO_NAMESPACE" --create-namespace \
    --set server.dev.enabled=true --set server.dev.devRootToken=root \
    --set injector.enabled=false --wait --timeout 5m
}

bao() {
  kc -n "$OPENBAO_NAMESPACE" exec -i openbao-0 -- env BAO_TOKEN=root bao "$@"
}

configure_openbao() {
  say "OpenBao: Kubernetes auth, a policy, a role for demo/app, the demo secret"
  bao auth enable kubernetes 2>/dev/null || echo "kubernetes auth already enabled" >&2
  bao write auth/kubernetes/config kubernetes_host=https://kubernetes.default.svc
  bao policy write demo - <<'POLICY'
path "secret/data/demo" {
  capabilities = ["read"]
}
POLICY
  bao write auth/kubernetes/role/demo \
    bound_service_account_names=app bound_service_account_namespaces="$DEMO_NAMESPACE" \
    policies=demo ttl=10m
  bao kv put secret/demo password=correct-horse-battery-staple
}

create_demo_namespace() {
  say "namespace $DEMO_NAMESPACE with service account app"
  kc apply -f - <<YAML
apiVersion: v1
kind: Namespace
metadata:
  name: $DEMO_NAMESPACE
  labels:
    pod-security.kubernetes.io/enforce: restricted
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: app
  namespace: $DEMO_NAMESPACE
YAML
}

install_webhook() {
  say "vault-inject (deploy/chart)"
  hm upgrade --install vault-inject deploy/chart \
    --namespace "$RELEASE_NAMESPACE" --create-namespace \
    --set vault.addr="http://openbao.$OPENBAO_NAMESPACE:8200" \
    --set image.repository="$WEBHOOK_IMAGE" --set image.tag="$IMAGE_TAG" \
    --set image.pullPolicy=Never \
    --set initImage.repository="$INIT_IMAGE" --set initImage.tag="$IMAGE_TAG" \
    --set initImage.pullPolicy=Never
}

wait_for_webhook() {
  say "waiting for the webhook"
  kc -n "$RELEASE_NAMESPACE" rollout status deployment/vault-inject --timeout 180s
}

deploy_app() {
  say "the sample app: prints the secret it was given, then sleeps"
  kc apply -f - <<YAML
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
  namespace: $DEMO_NAMESPACE
spec:
  replicas: 1
  selector:
    matchLabels: {app: demo}
  template:
    metadata:
      labels: {app: demo}
      annotations:
        vault-inject.dev/role: demo
    spec:
      serviceAccountName: app
      securityContext:
        runAsNonRoot: true
        runAsUser: 1000
        seccompProfile: {type: RuntimeDefault}
      containers:
        - name: app
          image: busybox:1.36
          command: ["sh", "-c", "echo \"the password is \$DB_PASSWORD\"; exec sleep 3600"]
          env:
            - name: DB_PASSWORD
              value: vault:secret/data/demo#password
          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities: {drop: [ALL]}
YAML
}

show_app_log() {
  say "the app's log"
  kc -n "$DEMO_NAMESPACE" rollout status deployment/app --timeout 180s
  kc -n "$DEMO_NAMESPACE" logs deployment/app
  say "and the pod spec holds only the reference:"
  kc -n "$DEMO_NAMESPACE" get pods -l app=demo \
    -o jsonpath='{.items[0].spec.containers[0].env[0].value}{"\n"}'
}

main() {
  cd "$(dirname "${BASH_SOURCE[0]}")/.."
  local step
  for step in "${STEPS[@]}"; do "$step"; done
  say "done. Remove everything with scripts/kind-down.sh"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then main "$@"; fi
