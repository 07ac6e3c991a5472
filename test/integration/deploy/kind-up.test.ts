// scripts/kind-up.sh cannot run here (no Docker engine, no kind). What can: shellcheck on both
// scripts, and every step of it that only talks to the API server (its CLUSTER_STEPS), run by
// sourcing the script against the local kube-apiserver, then checking what those steps created.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { startKube, type Kube } from '../../env/kube.ts';
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
