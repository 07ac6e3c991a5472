// Both webhooks in the real kube-apiserver, in both orders: the chart's configuration for the
// built webhook, and a stand-in for Bank-Vaults' webhook that wraps every container with a
// `vault:` value the way its pkg/webhook/pod.go mutateContainers does (command /vault/vault-env,
// the old command in front of args). The API server calls mutating configurations by name:
// `a-bank-vaults` runs before `vi-vault-inject`, `zz-bank-vaults` after it, and then our
// reinvocationPolicy IfNeeded calls us again. Either way the pod is denied, never wrapped twice.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { selfSignedKeyPair } from '../../../webhook/src/tls/certificates.ts';
import { startKube, type Kube } from '../../env/kube.ts';
import { restrictedPod, startWebhookProcess, type WebhookProcess } from '../../env/stack.ts';
import { apply, create, find, remove, render, type KubeObject } from './helpers.ts';

let kube: Kube;
let webhook: WebhookProcess;
let bankVaults: Server;
let bankVaultsCa = '';
let bankVaultsCalls = 0;
let dir: string;
let appNs: string;

interface Container {
  command?: string[];
  args?: string[];
  env?: { value?: string }[];
}

/** Bank-Vaults' wrap (pod.go mutateContainers), as JSONPatch operations. */
function wrap(pod: { spec: { containers: Container[] } }): unknown[] {
  return pod.spec.containers.flatMap((c, i) => {
    const hasRef = (c.env ?? []).some((e) => e.value?.startsWith('vault:'));
    if (!hasRef || c.command?.[0] === '/vault/vault-env') return [];
    return [
      { op: 'add', path: `/spec/containers/${i}/command`, value: ['/vault/vault-env'] },
      {
        op: 'add',
        path: `/spec/containers/${i}/args`,
        value: [...(c.command ?? []), ...(c.args ?? [])],
      },
    ];
  });
}

function bankVaultsConfig(name: string, port: number): KubeObject {
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: { name },
    webhooks: [
      {
        name: `pods.${name}.admission.banzaicloud.com`,
        admissionReviewVersions: ['v1'],
        sideEffects: 'None',
        failurePolicy: 'Fail',
        reinvocationPolicy: 'Never',
        clientConfig: {
          url: `https://127.0.0.1:${port}/pods`,
          caBundle: Buffer.from(bankVaultsCa).toString('base64'),
        },
        rules: [
          { apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['pods'] },
        ],
      },
    ],
  } as unknown as KubeObject;
}

const pod = (name: string): KubeObject =>
  restrictedPod(
    name,
    { command: ['/app/server'], env: [{ name: 'DB', value: 'vault:secret/data/app#password' }] },
    { serviceAccountName: 'default' },
  ) as unknown as KubeObject;

async function createError(name: string, dryRun: boolean): Promise<string> {
  try {
    await create(
      kube,
      { ...pod(name), metadata: { name, namespace: appNs } },
      { persist: !dryRun },
    );
  } catch (err) {
    return (err as Error).message;
  }
  return 'admitted';
}

before(async () => {
  const pair = await selfSignedKeyPair();
  bankVaultsCa = pair.cert;
  bankVaults = createServer({ cert: pair.cert, key: pair.key }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      bankVaultsCalls++;
      const review = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      const ops = wrap(review.request.object);
      const response: Record<string, unknown> = { uid: review.request.uid, allowed: true };
      if (ops.length > 0) {
        response['patchType'] = 'JSONPatch';
        response['patch'] = Buffer.from(JSON.stringify(ops)).toString('base64');
      }
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ apiVersion: review.apiVersion, kind: review.kind, response }));
    });
  });
  await new Promise<void>((r) => bankVaults.listen(0, '127.0.0.1', r));
  kube = await startKube();
  dir = await mkdtemp(path.join(tmpdir(), 'vault-inject-both-'));
  const kubeconfig = await kube.writeKubeconfig(path.join(dir, 'kubeconfig'), kube.webhookToken);
  webhook = await startWebhookProcess({ dir, kubeconfig, vaultAddr: 'https://vault.example:8200' });
  const releaseNs = await kube.createNamespace('vi-release');
  appNs = await kube.createNamespace('vi-app');
  await kube.createServiceAccount(appNs, 'default');
  const objects = await render('vi', releaseNs, {
    webhook: {
      clientConfig: { url: webhook.url },
      caBundle: Buffer.from(webhook.caPem).toString('base64'),
    },
    guard: { enabled: false },
  });
  for (const obj of find(objects, 'MutatingWebhookConfiguration')) await apply(kube, obj);
});

after(async () => {
  await webhook?.stop();
  await kube?.stop();
  await new Promise((r) => bankVaults?.close(r));
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("Bank-Vaults' webhook and ours on the same pod, in the real API server", () => {
  const orders: [string, RegExp][] = [
    ['a-bank-vaults', /container "app" already runs Bank-Vaults' \/vault\/vault-env/],
    [
      'zz-bank-vaults',
      /container "app": Bank-Vaults' webhook put \/vault\/vault-env in front of vault-inject's init program after this webhook injected it/,
    ],
  ];
  for (const [name, message] of orders) {
    it(`${name}: denied, never wrapped twice`, async () => {
      const port = (bankVaults.address() as AddressInfo).port;
      const config = bankVaultsConfig(name, port);
      await apply(kube, config);
      try {
        // The API server loads configurations asynchronously: dry runs until it calls both.
        const deadline = Date.now() + 20_000;
        let seen = '';
        for (let i = 0; !message.test(seen); i++) {
          assert.ok(Date.now() < deadline, `never denied as expected; last answer: ${seen}`);
          seen = await createError(`probe-${name}-${i}`, true);
          if (!message.test(seen)) await new Promise((r) => setTimeout(r, 200));
        }
        const calls = bankVaultsCalls;
        const answer = await createError(`pod-${name}`, false);
        assert.match(answer, message);
        assert.match(answer, /both webhooks select this pod/);
        assert.ok(bankVaultsCalls > calls, "Bank-Vaults' stand-in was called");
      } finally {
        await remove(kube, config);
      }
    });
  }
});
