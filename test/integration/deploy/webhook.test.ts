// The chart's own MutatingWebhookConfiguration and guard policy, as rendered, in the real
// kube-apiserver, pointed (dev value webhook.clientConfig.url) at the built webhook running on
// 127.0.0.1. What reaches the webhook is counted with its own metric,
// vault_inject_admission_requests_total.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { V1Pod } from '@kubernetes/client-node';
import { startKube, type Kube } from '../../env/kube.ts';
import { restrictedPod, startWebhookProcess, type WebhookProcess } from '../../env/stack.ts';
import { apply, counter, create, find, kubeRequest, render, type KubeObject } from './helpers.ts';

const REQUESTS = 'vault_inject_admission_requests_total';
const REFERENCE = { name: 'DB_PASSWORD', value: 'vault:secret/data/app#password' };

let kube: Kube;
let webhook: WebhookProcess;
let dir: string;
let releaseNs: string;
let appNs: string;

/** The chart's webhook configuration and guard, for the running webhook. */
async function chartAdmission(failurePolicy: 'Fail' | 'Ignore'): Promise<KubeObject[]> {
  const objects = await render('vi', releaseNs, {
    webhook: {
      failurePolicy,
      clientConfig: { url: webhook.url },
      caBundle: Buffer.from(webhook.caPem).toString('base64'),
    },
    guard: { enabled: true },
  });
  return [
    ...find(objects, 'MutatingWebhookConfiguration'),
    ...find(objects, 'ValidatingAdmissionPolicy'),
    ...find(objects, 'ValidatingAdmissionPolicyBinding'),
  ];
}

function pod(
  name: string,
  env: { name: string; value: string }[],
  extra: Partial<V1Pod['spec']> = {},
  annotations?: Record<string, string>,
): KubeObject {
  const p = restrictedPod(
    name,
    { command: ['/app/server'], env },
    { serviceAccountName: 'default', ...(annotations ? { annotations } : {}) },
  );
  Object.assign(p.spec ?? {}, extra);
  return p as unknown as KubeObject;
}

/** `p` with its app container's env replaced (for valueFrom entries). */
function withEnv(p: KubeObject, env: Record<string, unknown>[]): KubeObject {
  const [app] = (p['spec'] as { containers: Record<string, unknown>[] }).containers;
  assert.ok(app);
  app['env'] = env;
  return p;
}

async function createPod(namespace: string, p: KubeObject): Promise<KubeObject> {
  const answer = await create(
    kube,
    { ...p, metadata: { ...p.metadata, namespace } },
    { persist: true },
  );
  return answer.body as unknown as KubeObject;
}

async function createPodError(namespace: string, p: KubeObject): Promise<string> {
  try {
    await createPod(namespace, p);
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error(`pod ${p.metadata.name} was admitted`);
}

const statusOf = (p: KubeObject): string | undefined =>
  (p.metadata['annotations'] as Record<string, string> | undefined)?.['vault-inject.dev/status'];

/** Waits until the apiserver has picked up the configuration (it loads it asynchronously). */
async function untilEffective(check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('the webhook configuration never took effect');
    await new Promise((r) => setTimeout(r, 200));
  }
}

before(async () => {
  kube = await startKube();
  dir = await mkdtemp(path.join(tmpdir(), 'vault-inject-deploy-'));
  const kubeconfig = await kube.writeKubeconfig(path.join(dir, 'kubeconfig'), kube.webhookToken);
  webhook = await startWebhookProcess({ dir, kubeconfig, vaultAddr: 'https://vault.example:8200' });
  releaseNs = await kube.createNamespace('vi-release');
  appNs = await kube.createNamespace('vi-app');
  await kube.createServiceAccount(releaseNs, 'default');
  await kube.createServiceAccount(appNs, 'default');
  for (const obj of await chartAdmission('Fail')) await apply(kube, obj);
  let probe = 0;
  await untilEffective(async () => {
    const dry = await create(kube, {
      ...pod(`probe-${probe++}`, [REFERENCE]),
      metadata: { name: `probe-${probe}`, namespace: appNs },
    });
    return statusOf(dry.body as unknown as KubeObject) === 'injected';
  });
});

after(async () => {
  await webhook?.stop();
  await kube?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('the chart webhook configuration, webhook running', () => {
  it('a pod with a reference is sent and mutated', async () => {
    const before = await counter(webhook.telemetryUrl, REQUESTS);
    const stored = await createPod(appNs, pod('with-ref', [REFERENCE]));
    assert.equal(statusOf(stored), 'injected');
    const [app] = (stored['spec'] as { containers: { command: string[]; args: string[] }[] })
      .containers;
    assert.deepEqual(app?.command, ['/vault-inject/bin/vault-inject-env']);
    assert.deepEqual(app?.args, ['/app/server']);
    assert.equal(await counter(webhook.telemetryUrl, REQUESTS), before + 1);
  });

  it('pods without a reference or annotation are never sent', async () => {
    const before = await counter(webhook.telemetryUrl, REQUESTS);
    const plain = [
      pod('no-env', []),
      pod('plain-env', [{ name: 'MODE', value: 'production' }]),
      pod('mentions-vault', [
        { name: 'NOTE', value: 'see vault:docs, not a reference at the start' },
      ]),
      pod('other-annotation', [], {}, { 'example.com/owner': 'team-a' }),
      // valueFrom that can never hold a reference: the pod's own fields and resources.
      withEnv(pod('downward-api', []), [
        { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
        {
          name: 'CPU',
          valueFrom: { resourceFieldRef: { containerName: 'app', resource: 'limits.cpu' } },
        },
      ]),
    ];
    for (const p of plain) assert.equal(statusOf(await createPod(appNs, p)), undefined);
    assert.equal(
      await counter(webhook.telemetryUrl, REQUESTS),
      before,
      'no request reached the webhook',
    );
  });

  it('pods whose values the API server cannot see (envFrom, valueFrom) or with our annotations are sent', async () => {
    const before = await counter(webhook.telemetryUrl, REQUESTS);
    const envFrom = pod('env-from', []);
    const [first] = (envFrom['spec'] as { containers: Record<string, unknown>[] }).containers;
    assert.ok(first);
    first['envFrom'] = [{ configMapRef: { name: 'app-settings', optional: true } }];
    await createPod(appNs, envFrom);
    await createPod(
      appNs,
      pod('bank-vaults-annotation', [], {}, { 'vault.security.banzaicloud.io/vault-role': 'app' }),
    );
    await createPod(
      appNs,
      pod('inline', [{ name: 'URL', value: 'postgres://u:${vault:db/creds/app#password}@db/app' }]),
    );
    await createPod(appNs, pod('our-annotation', [], {}, { 'vault-inject.dev/from-path': 'a/b' }));
    // Behind a Secret key: the API server sends the pod, the webhook reads the Secret and finds
    // the reference.
    await kube.core.createNamespacedSecret({
      namespace: appNs,
      body: { metadata: { name: 'app-db' }, stringData: { password: REFERENCE.value } },
    });
    const fromSecret = await createPod(
      appNs,
      withEnv(pod('secret-key-ref', []), [
        { name: 'DB_PASSWORD', valueFrom: { secretKeyRef: { name: 'app-db', key: 'password' } } },
      ]),
    );
    assert.equal(statusOf(fromSecret), 'injected', 'the reference behind secretKeyRef is found');
    // Behind a ConfigMap key holding a plain value: sent, and left alone.
    await kube.core.createNamespacedConfigMap({
      namespace: appNs,
      body: { metadata: { name: 'app-plain' }, data: { mode: 'production' } },
    });
    const fromConfigMap = await createPod(
      appNs,
      withEnv(pod('config-map-key-ref', []), [
        { name: 'MODE', valueFrom: { configMapKeyRef: { name: 'app-plain', key: 'mode' } } },
      ]),
    );
    assert.equal(statusOf(fromConfigMap), undefined, 'a plain ConfigMap value is left alone');
    // A reference in an init container only.
    const init = pod('init-only', []);
    const spec = init['spec'] as { containers: Record<string, unknown>[] };
    (spec as Record<string, unknown>)['initContainers'] = [
      { ...spec.containers[0], name: 'migrate', env: [REFERENCE] },
    ];
    assert.equal(statusOf(await createPod(appNs, init)), 'injected');
    assert.equal(await counter(webhook.telemetryUrl, REQUESTS), before + 7);
  });

  it("the webhook's own pods are never sent, and the guard leaves them alone", async () => {
    const before = await counter(webhook.telemetryUrl, REQUESTS);
    const own = pod('own-pod', [REFERENCE]);
    own.metadata['labels'] = { 'vault-inject.dev/component': 'webhook' };
    assert.equal(statusOf(await createPod(appNs, own)), undefined);
    assert.equal(await counter(webhook.telemetryUrl, REQUESTS), before);
  });

  it('the release namespace is never sent, and the guard leaves it alone', async () => {
    const before = await counter(webhook.telemetryUrl, REQUESTS);
    const stored = await createPod(releaseNs, pod('in-release-ns', [REFERENCE]));
    assert.equal(statusOf(stored), undefined);
    assert.equal(await counter(webhook.telemetryUrl, REQUESTS), before);
  });

  it('a namespace labelled vault-inject.dev/inject=false is never sent', async () => {
    const optOut = await kube.createNamespace('vi-optout', { 'vault-inject.dev/inject': 'false' });
    await kube.createServiceAccount(optOut, 'default');
    const before = await counter(webhook.telemetryUrl, REQUESTS);
    assert.equal(statusOf(await createPod(optOut, pod('opted-out-ns', [REFERENCE]))), undefined);
    assert.equal(await counter(webhook.telemetryUrl, REQUESTS), before);
  });
});

describe('webhook down', () => {
  before(async () => {
    await webhook.stop();
  });

  it('failurePolicy Fail: a pod with a reference is refused, a pod without is admitted', async () => {
    const message = await createPodError(appNs, pod('down-fail-ref', [REFERENCE]));
    assert.match(message, /failed calling webhook "pods\.vault-inject\.dev"/);
    assert.equal(
      statusOf(await createPod(appNs, pod('down-fail-plain', [{ name: 'A', value: 'b' }]))),
      undefined,
    );
  });

  it('failurePolicy Ignore: the guard rejects a pod with a reference and admits one without', async () => {
    for (const obj of await chartAdmission('Ignore')) await apply(kube, obj);
    await untilEffective(async () => {
      const answer = await kubeRequest(
        kube,
        'POST',
        `/api/v1/namespaces/${appNs}/pods?dryRun=All`,
        {
          ...pod('probe-ignore', [REFERENCE]),
          metadata: { name: 'probe-ignore', namespace: appNs },
        },
      );
      return /vault-inject guard/.test(String(answer.body['message'] ?? ''));
    });
    const message = await createPodError(appNs, pod('down-ignore-ref', [REFERENCE]));
    assert.match(
      message,
      /vault-inject guard: this pod has a vault: reference in an env value but was not mutated/,
    );
    assert.match(message, new RegExp(`kubectl -n ${releaseNs} get pods,endpoints`));
    assert.equal(
      statusOf(await createPod(appNs, pod('down-ignore-plain', [{ name: 'A', value: 'b' }]))),
      undefined,
    );
    const optOuts: [string, Record<string, string>, string][] = [
      [
        'down-ignore-opted-out',
        { 'vault-inject.dev/inject': 'false' },
        'an opted-out pod is admitted',
      ],
      [
        'down-ignore-bank-vaults-skip',
        { 'vault.security.banzaicloud.io/mutate': 'skip' },
        "Bank-Vaults' mutate: skip opts out too",
      ],
    ];
    for (const [name, annotations, why] of optOuts) {
      const optedOut = pod(name, [REFERENCE], {}, annotations);
      assert.equal(statusOf(await createPod(appNs, optedOut)), undefined, why);
    }
    // Ours wins over the alias: inject "true" with mutate: skip is not an opt-out.
    const both = pod(
      'down-ignore-ours-wins',
      [REFERENCE],
      {},
      { 'vault-inject.dev/inject': 'true', 'vault.security.banzaicloud.io/mutate': 'skip' },
    );
    assert.match(await createPodError(appNs, both), /vault-inject guard/);
    const init = pod('down-ignore-init', []);
    (init['spec'] as Record<string, unknown>)['initContainers'] = [
      {
        ...(init['spec'] as { containers: Record<string, unknown>[] }).containers[0],
        name: 'migrate',
        env: [{ name: 'X', value: '>>vault:database/creds/app#password' }],
      },
    ];
    assert.match(await createPodError(appNs, init), /vault-inject guard/);
  });

  it('failurePolicy Ignore: the guard also rejects a pod whose annotation asks for injection', async () => {
    // The chart from the test above (Ignore + guard) is in place and the webhook is still down.
    const ASKS = /vault-inject guard: this pod asks for injection by annotation/;
    const asking: [string, Record<string, string>][] = [
      ['asks-from-path', { 'vault-inject.dev/from-path': 'secret/data/app' }],
      [
        'asks-bv-from-path',
        { 'vault.security.banzaicloud.io/vault-env-from-path': 'secret/data/app' },
      ],
      ['asks-inject-true', { 'vault-inject.dev/inject': ' True ' }],
      ['asks-containers', { 'vault-inject.dev/containers': 'sidecar, app' }],
      ['asks-secret-file', { 'vault-inject.dev/secret-file-app.env': 'vault:secret/app#k' }],
    ];
    for (const [name, annotations] of asking) {
      const message = await createPodError(appNs, pod(name, [], {}, annotations));
      assert.match(message, ASKS, name);
      assert.match(message, new RegExp(`kubectl -n ${releaseNs} get pods,endpoints`), name);
    }
    // What the webhook itself would leave alone, the guard admits.
    const admitted: [string, Record<string, string>, string][] = [
      ['empty-from-path', { 'vault-inject.dev/from-path': ' ' }, 'an empty from-path is unset'],
      [
        'ours-empty-wins',
        {
          'vault-inject.dev/from-path': '',
          'vault.security.banzaicloud.io/vault-env-from-path': 'secret/data/app',
        },
        'ours wins over the alias, even empty',
      ],
      ['containers-none', { 'vault-inject.dev/containers': 'other' }, 'names no container'],
      ['inject-false-form', { 'vault-inject.dev/inject': ' F ' }, 'a ParseBool false opts out'],
      [
        'from-path-opted-out',
        { 'vault-inject.dev/from-path': 'secret/data/app', 'vault-inject.dev/inject': 'false' },
        'opted out',
      ],
    ];
    for (const [name, annotations, why] of admitted) {
      const env = name === 'inject-false-form' ? [REFERENCE] : [];
      assert.equal(
        statusOf(await createPod(appNs, pod(name, env, {}, annotations))),
        undefined,
        why,
      );
    }
    // What it cannot see: a reference inside a Secret (or ConfigMap) behind valueFrom/envFrom.
    await kube.core.createNamespacedSecret({
      namespace: appNs,
      body: { metadata: { name: 'hidden-ref' }, stringData: { password: REFERENCE.value } },
    });
    const hidden = withEnv(pod('hidden-ref', []), [
      { name: 'DB_PASSWORD', valueFrom: { secretKeyRef: { name: 'hidden-ref', key: 'password' } } },
    ]);
    assert.equal(
      statusOf(await createPod(appNs, hidden)),
      undefined,
      'admitted unmutated: the documented blind spot (docs/deploy.md, "The guard")',
    );
  });
});
