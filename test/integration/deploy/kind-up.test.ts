// scripts/kind-up.sh cannot run here (no Docker engine, no kind). What can: shellcheck on both
// scripts, every step of it that only talks to the API server (its CLUSTER_STEPS), run by
// sourcing the script against the local kube-apiserver, then checking what those steps created;
// and the OpenBao commands of configure_openbao (in kind run through `kubectl exec`, which needs a
// kubelet) against a local OpenBao dev server, then the sample app's login and read with a token
// of its service account.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { SA_ISSUER, startKube, type Kube } from '../../env/kube.ts';
import { baoPath } from '../../env/openbao.ts';
import {
  configureKubernetesAuth,
  startBao,
  vaultRequest,
  type Bao,
} from '../../env/vault-kubernetes.ts';
import {
  create,
  helmPath,
  kubectlPath,
  kubeRequest,
  remove,
  repoRoot,
  shellcheckPath,
  type KubeObject,
} from './helpers.ts';

const run = promisify(execFile);
const SCRIPTS = ['scripts/kind-up.sh', 'scripts/kind-down.sh'];

/** Runs bash with kind-up.sh sourced (nothing runs on source) and `body` after it. */
function sourced(
  body: string,
  env: NodeJS.ProcessEnv = {},
): Promise<{ stdout: string; stderr: string }> {
  return run('bash', ['-c', `set -euo pipefail; source scripts/kind-up.sh; ${body}`], {
    cwd: repoRoot,
    env: { ...process.env, ...env },
  });
}

describe('kind quick start scripts', () => {
  it('are shellcheck-clean', async () => {
    await run(await shellcheckPath(), SCRIPTS, { cwd: repoRoot });
  });

  it('sourcing runs nothing; every listed step is a function; the cluster steps are among them', async () => {
    const { stdout, stderr } = await sourced(
      'for s in "${STEPS[@]}"; do declare -F "$s" >/dev/null || echo "missing $s"; done; ' +
        'for s in "${CLUSTER_STEPS[@]}"; do [[ " ${STEPS[*]} " == *" $s "* ]] || echo "not a step: $s"; done; ' +
        'echo "${#CLUSTER_STEPS[@]}"',
    );
    assert.equal(stderr, '');
    assert.equal(stdout.trim(), '3');
  });
});

describe('the steps of kind-up.sh that need no kubelet, against the real API server', () => {
  let kube: Kube;
  let dir: string;
  let kubectl: string;

  before(async () => {
    // The same release as the apiserver, from the components (never the machine's kubectl).
    kubectl = await kubectlPath();
    kube = await startKube();
    dir = await mkdtemp(path.join(tmpdir(), 'vault-inject-kind-up-'));
  });

  after(async () => {
    await kube?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('create the demo namespace, install the chart, deploy the sample app', async () => {
    const kubeconfig = await kube.writeKubeconfig(path.join(dir, 'kubeconfig'));
    await sourced('for s in "${CLUSTER_STEPS[@]}"; do "$s"; done', {
      KUBECONFIG: kubeconfig,
      KUBE_CONTEXT: '',
      HELM: await helmPath(),
      KUBECTL: kubectl,
      // kubectl's discovery cache (~/.kube/cache) stays in the test's directory.
      HOME: dir,
      HELM_CACHE_HOME: dir,
      HELM_CONFIG_HOME: dir,
      HELM_DATA_HOME: dir,
    });

    const get = async (p: string): Promise<Record<string, unknown>> => {
      const answer = await kubeRequest(kube, 'GET', p);
      assert.equal(answer.status, 200, `GET ${p}`);
      return answer.body;
    };
    await get('/api/v1/namespaces/demo/serviceaccounts/app');
    const webhook = (await get(
      '/apis/apps/v1/namespaces/vault-inject/deployments/vault-inject',
    )) as {
      spec: {
        template: {
          spec: {
            containers: {
              image: string;
              imagePullPolicy: string;
              env: { name: string; value: string }[];
            }[];
          };
        };
      };
    };
    const [container] = webhook.spec.template.spec.containers;
    assert.equal(container?.image, 'vault-inject:dev');
    assert.equal(container?.imagePullPolicy, 'Never');
    const env = Object.fromEntries((container?.env ?? []).map((e) => [e.name, e.value]));
    assert.equal(env['VAULT_ADDR'], 'http://openbao.openbao:8200');
    assert.equal(env['VAULT_INJECT_INIT_IMAGE'], 'vault-inject-init:dev');
    assert.equal(env['VAULT_INJECT_INIT_IMAGE_PULL_POLICY'], 'Never');
    await get('/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/vault-inject');

    const app = (await get('/apis/apps/v1/namespaces/demo/deployments/app')) as {
      spec: {
        template: {
          metadata: Record<string, unknown>;
          spec: { containers: { env: { value: string }[] }[] };
        };
      };
    };
    assert.equal(
      app.spec.template.spec.containers[0]?.env[0]?.value,
      'vault:secret/data/demo#password',
    );

    // No kubelet and no ClusterIP route here: without the webhook configuration, the sample
    // app's pod is stopped by the chart's guard, and with the opt-out it passes Pod Security
    // `restricted` in the demo namespace.
    await remove(kube, {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'MutatingWebhookConfiguration',
      metadata: { name: 'vault-inject' },
    });
    const appPod = (annotations: Record<string, string>): KubeObject => ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        ...app.spec.template.metadata,
        name: 'app-check',
        namespace: 'demo',
        annotations,
      },
      spec: app.spec.template.spec,
    });
    let guarded = '';
    const deadline = Date.now() + 20_000;
    while (!/vault-inject guard/.test(guarded)) {
      assert.ok(Date.now() < deadline, `the guard never stopped the unmutated pod: ${guarded}`);
      guarded = await create(kube, appPod({ 'vault-inject.dev/role': 'demo' })).then(
        () => 'admitted',
        (err: Error) => err.message,
      );
      if (!/vault-inject guard/.test(guarded)) await new Promise((r) => setTimeout(r, 200));
    }
    await create(kube, appPod({ 'vault-inject.dev/inject': 'false' }));
  });
});

describe('configure_openbao against a local OpenBao dev server', () => {
  let kube: Kube;
  let bao: Bao;

  before(async () => {
    kube = await startKube();
    bao = await startBao({ rootToken: 'root' });
  });

  after(async () => {
    await bao?.stop();
    await kube?.stop();
  });

  it('gives the sample app, and only it, the demo secret its reference names', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'vault-inject-kind-bao-'));
    try {
      // In kind, `bao` runs in the OpenBao pod through `kubectl exec` with BAO_TOKEN=root; here it
      // is the local binary against the local server. Twice: the script may be run again.
      const env = {
        BAO_BIN: baoPath(),
        BAO_ADDR: bao.addr,
        VAULT_ADDR: bao.addr,
        BAO_TOKEN: 'root',
        VAULT_TOKEN: 'root',
        HOME: dir,
      };
      // In the pod, bao reads the Kubernetes CA from its service-account mount; here there is
      // none, so its auth config write says so (re-pointed at the local API server below).
      await writeFile(path.join(dir, 'kube-ca.crt'), kube.caPem);
      const body =
        'bao() { if [ "$1 $2" = "write auth/kubernetes/config" ]; then ' +
        'set -- "$@" disable_local_ca_jwt=true "kubernetes_ca_cert=@$HOME/kube-ca.crt"; fi; ' +
        '"$BAO_BIN" "$@"; }; configure_openbao; configure_openbao';
      await sourced(body, env);

      // What a pod's projected token would do: the API server as kubernetes_host (in kind the
      // in-cluster defaults fill in the CA and reviewer), then a login as demo/app.
      await configureKubernetesAuth(bao, {
        server: kube.server,
        caPem: kube.caPem,
        reviewerToken: kube.adminToken,
      });
      const kubeconfig = await kube.writeKubeconfig(path.join(dir, 'kubeconfig'));
      await sourced('create_demo_namespace', {
        KUBECONFIG: kubeconfig,
        KUBE_CONTEXT: '',
        KUBECTL: await kubectlPath(),
        HOME: dir,
      });
      const login = async (namespace: string, account: string): Promise<string> => {
        const jwt = await kube.serviceAccountToken(namespace, account, SA_ISSUER, 600);
        const answer = await vaultRequest<{ auth: { client_token: string } }>(
          { addr: bao.addr, token: '' },
          'POST',
          'auth/kubernetes/login',
          { role: 'demo', jwt },
        );
        return answer?.auth.client_token ?? '';
      };
      const token = await login('demo', 'app');
      assert.ok(token.length > 0);
      // The path of the sample app's reference (vault:secret/data/demo#password).
      const read = await vaultRequest<{ data: { data: Record<string, string> } }>(
        { addr: bao.addr, token },
        'GET',
        'secret/data/demo',
      );
      assert.equal(read?.data.data['password'], 'correct-horse-battery-staple');
      await assert.rejects(
        vaultRequest({ addr: bao.addr, token }, 'GET', 'secret/data/other'),
        /HTTP 403/,
        'the demo policy reads secret/demo only',
      );
      const stranger = await kube.createNamespace('elsewhere');
      await kube.createServiceAccount(stranger, 'app');
      await assert.rejects(login(stranger, 'app'), /HTTP (400|403)/, 'bound to namespace demo');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
