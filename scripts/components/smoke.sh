#!/usr/bin/env bash
# Starts each cached server on loopback, checks that it answers, and stops it. It is also the
# reference for the test stack module: the flags below are the ones known to work (see
# docs/real-stack.md). Everything lives in one temporary directory, removed at the end; only
# processes started here are stopped, by their PID.
#
#   scripts/components/smoke.sh          (after scripts/components.sh)
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
VI_NAME=smoke

here="$(dirname "${BASH_SOURCE[0]}")"
bao="$("$here/openbao.sh" path)"
etcd="$("$here/etcd.sh" path)"
apiserver="$("$here/kube-apiserver.sh" path)"
kubectl="$("$here/kubectl.sh" path)"
helm="$("$here/helm.sh" path)"
registry="$("$here/registry.sh" path)"
busybox="$("$here/busybox.sh" path)"

work="$(mktemp -d "${TMPDIR:-/tmp}/vault-inject-smoke.XXXXXX")"
pids=()
cleanup() {
  local i
  # Reverse start order: the apiserver before etcd, or its shutdown waits on a dead store.
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill "${pids[i]}" 2>/dev/null || true
    wait "${pids[i]}" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

# A port nobody listens on (and, with $2=2, the one after it too: bao's cluster port).
free_port() {
  local n="${1:-1}" p i busy
  for _ in $(seq 100); do
    p=$((20000 + RANDOM % 20000))
    busy=""
    for ((i = 0; i < n; i++)); do
      if [ -n "$(ss -Htln "sport = :$((p + i))")" ]; then busy=1; fi
    done
    if [ -z "$busy" ]; then
      printf '%s' "$p"
      return 0
    fi
  done
  vi_die "no free port found"
}

# wait_for NAME LOG URL [CURL_ARGS...]: poll URL until it answers 2xx (30 s at most).
wait_for() {
  local name="$1" log="$2" url="$3" start
  shift 3
  start="$(vi_now_us)"
  for _ in $(seq 300); do
    if curl -fsS -o /dev/null "$@" "$url" 2>/dev/null; then
      vi_log "$name ready in $(vi_elapsed "$start")"
      return 0
    fi
    sleep 0.1
  done
  tail -n 20 "$log" >&2
  vi_die "$name did not answer $url within 30 s (log above)"
}

check() {
  local what="$1"
  shift
  if ! "$@"; then vi_die "$what failed: $(vi_quote "$@")"; fi
  vi_log "ok: $what"
}

# --- busybox: static, runs with an empty environment --------------------------------------------
if ldd "$busybox" >/dev/null 2>&1; then vi_die "$busybox is not static"; fi
check "busybox is static and runs" test "$(env -i "$busybox" sh -c 'echo ok')" = ok

# --- helm ----------------------------------------------------------------------------------------
check "helm runs" "$helm" version --short >&2
mkdir -p "$work/chart/templates"
printf 'apiVersion: v2\nname: smoke\nversion: 0.1.0\n' >"$work/chart/Chart.yaml"
printf 'kube: {{ .Capabilities.KubeVersion.Version }}\n' >"$work/chart/templates/cm.yaml"
vi_log "helm template reports Kubernetes $("$helm" template "$work/chart" | sed -n 's/^kube: //p')"

# --- registry: serve on loopback, push a config blob and an OCI manifest, read them back --------
reg_port="$(free_port)"
cat >"$work/registry.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $work/registry
http:
  addr: 127.0.0.1:$reg_port
EOF
"$registry" serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
pids+=($!)
reg="http://127.0.0.1:$reg_port"
wait_for registry "$work/registry.log" "$reg/v2/"
printf '{"architecture":"amd64","os":"linux","config":{"Cmd":["/bin/app"]},"rootfs":{"type":"layers","diff_ids":[]}}' >"$work/config.json"
digest="sha256:$(sha256sum "$work/config.json" | cut -d' ' -f1)"
size="$(stat -c %s "$work/config.json")"
upload="$(curl -fsS -D - -o /dev/null -X POST "$reg/v2/smoke/app/blobs/uploads/" | tr -d '\r' | sed -n 's/^[Ll]ocation: //p')"
case "$upload" in http*) ;; *) upload="$reg$upload" ;; esac
check "registry blob upload" curl -fsS -o /dev/null -X PUT -H 'Content-Type: application/octet-stream' \
  --data-binary "@$work/config.json" "$upload&digest=$digest"
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%s},"layers":[]}' \
  "$digest" "$size" >"$work/manifest.json"
check "registry manifest push" curl -fsS -o /dev/null -X PUT \
  -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' --data-binary "@$work/manifest.json" \
  "$reg/v2/smoke/app/manifests/v1"
check "registry manifest and config read back" test \
  "$(curl -fsS -H 'Accept: application/vnd.oci.image.manifest.v1+json' "$reg/v2/smoke/app/manifests/v1" |
    sed -n 's/.*"config":{[^}]*"digest":"\([^"]*\)".*/\1/p')" = "$digest"

# --- etcd ----------------------------------------------------------------------------------------
etcd_client="$(free_port)"
etcd_peer="$(free_port)"
"$etcd" --name=smoke --data-dir="$work/etcd" \
  --listen-client-urls="http://127.0.0.1:$etcd_client" --advertise-client-urls="http://127.0.0.1:$etcd_client" \
  --listen-peer-urls="http://127.0.0.1:$etcd_peer" --initial-advertise-peer-urls="http://127.0.0.1:$etcd_peer" \
  --initial-cluster="smoke=http://127.0.0.1:$etcd_peer" \
  --unsafe-no-fsync --log-level=warn >"$work/etcd.log" 2>&1 &
pids+=($!)
wait_for etcd "$work/etcd.log" "http://127.0.0.1:$etcd_client/health"

# --- kube-apiserver: self-made CA, serving cert for 127.0.0.1, SA key pair, static admin token ---
pki="$work/pki"
mkdir -p "$pki"
(
  cd "$pki"
  openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 1 -subj /CN=vault-inject-smoke-ca
  openssl req -newkey rsa:2048 -nodes -keyout apiserver.key -out apiserver.csr -subj /CN=kube-apiserver
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >ext.cnf
  openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out apiserver.crt -days 1 -extfile ext.cnf
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out sa.key
  openssl pkey -in sa.key -pubout -out sa.pub
) >"$work/openssl.log" 2>&1 || vi_die "openssl failed: $(tail -n 5 "$work/openssl.log")"
admin_token="smoke-admin-$RANDOM$RANDOM"
printf '%s,admin,admin,system:masters\n' "$admin_token" >"$pki/tokens.csv"
api_port="$(free_port)"
"$apiserver" \
  --etcd-servers="http://127.0.0.1:$etcd_client" \
  --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$api_port" \
  --tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" \
  --service-account-issuer=https://kubernetes.default.svc.cluster.local \
  --service-account-signing-key-file="$pki/sa.key" --service-account-key-file="$pki/sa.pub" \
  --service-cluster-ip-range=10.0.0.0/24 \
  --token-auth-file="$pki/tokens.csv" --authorization-mode=RBAC \
  --endpoint-reconciler-type=none \
  >"$work/apiserver.log" 2>&1 &
pids+=($!)
api="https://127.0.0.1:$api_port"
kube() { curl -fsS --cacert "$pki/ca.crt" -H "Authorization: Bearer $admin_token" -H 'Content-Type: application/json' "$@"; }
wait_for kube-apiserver "$work/apiserver.log" "$api/readyz" --cacert "$pki/ca.crt" -H "Authorization: Bearer $admin_token"
ns="smoke-$RANDOM"
check "namespace $ns created" kube -o /dev/null -X POST "$api/api/v1/namespaces" \
  -d "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"$ns\"}}"
check "service account created" kube -o /dev/null -X POST "$api/api/v1/namespaces/$ns/serviceaccounts" \
  -d '{"apiVersion":"v1","kind":"ServiceAccount","metadata":{"name":"app"}}'
sa_token="$(kube -X POST "$api/api/v1/namespaces/$ns/serviceaccounts/app/token" \
  -d '{"apiVersion":"authentication.k8s.io/v1","kind":"TokenRequest","spec":{"audiences":["vault"],"expirationSeconds":600}}' |
  tr -d '\n ' | sed -n 's/.*"token":"\([^"]*\)".*/\1/p')"
check "TokenRequest (audience vault) returned a token" test -n "$sa_token"
check "pod stored (no scheduler: stays Pending)" kube -o /dev/null -X POST "$api/api/v1/namespaces/$ns/pods" \
  -d '{"apiVersion":"v1","kind":"Pod","metadata":{"name":"app"},"spec":{"serviceAccountName":"app","containers":[{"name":"app","image":"127.0.0.1:5000/app:1","command":["/bin/app"]}]}}'

kubectl_args=(--server="$api" --certificate-authority="$pki/ca.crt" --token="$admin_token")
check "kubectl reads the service account back" test \
  "$(HOME="$work" "$kubectl" "${kubectl_args[@]}" -n "$ns" get serviceaccount app -o 'jsonpath={.metadata.name}')" = app

# --- OpenBao dev server, and its Kubernetes auth against the apiserver above ---------------------
bao_port="$(free_port 2)" # the dev server also listens on PORT+1 (cluster port)
mkdir -p "$work/bao-home"
# HOME: the dev server writes its root token to ~/.vault-token.
HOME="$work/bao-home" "$bao" server -dev -dev-root-token-id=root \
  -dev-listen-address="127.0.0.1:$bao_port" >"$work/bao.log" 2>&1 &
pids+=($!)
vault="http://127.0.0.1:$bao_port"
wait_for openbao "$work/bao.log" "$vault/v1/sys/health"
vaultapi() { curl -fsS -H 'X-Vault-Token: root' "$@"; }
check "kubernetes auth enabled" vaultapi -X POST "$vault/v1/sys/auth/kubernetes" -d '{"type":"kubernetes"}'
ca_json="$(sed ':a;N;$!ba;s/\n/\\n/g' "$pki/ca.crt")"
check "kubernetes auth configured" vaultapi -X POST "$vault/v1/auth/kubernetes/config" \
  -d "{\"kubernetes_host\":\"$api\",\"kubernetes_ca_cert\":\"$ca_json\",\"disable_local_ca_jwt\":true,\"token_reviewer_jwt\":\"$admin_token\"}"
check "kubernetes auth role" vaultapi -X POST "$vault/v1/auth/kubernetes/role/app" \
  -d "{\"bound_service_account_names\":[\"app\"],\"bound_service_account_namespaces\":[\"$ns\"],\"audience\":\"vault\",\"token_ttl\":\"10m\"}"
check "KV v2 write at secret/" vaultapi -o /dev/null -X POST "$vault/v1/secret/data/smoke" -d '{"data":{"k":"v"}}'
login="$(curl -fsS -X POST "$vault/v1/auth/kubernetes/login" -d "{\"role\":\"app\",\"jwt\":\"$sa_token\"}")"
check "service account login to OpenBao" grep -q '"client_token":"' <<<"$login"

vi_log "all components answer on loopback"
