// The webhook's Secret/ConfigMap reader against a real kube-apiserver: values decoded, a missing
// object is `undefined`, a forbidden read rejects with the HTTP status and nothing of the body, a
// server that never answers is tried twice and then denies the review naming the timeout (also
// through the handler, behind a proxy that stalls the apiserver); through the admission handler a
// reference behind a Secret is found, and a forbidden Secret is a warning. A canary value never
// leaves the reader.
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { KubeConfig } from '@kubernetes/client-node';
import { WebhookError } from '../../../webhook/src/errors.ts';
import type { FailedRead } from '../../../webhook/src/k8s/read-retry.ts';
import { kubernetesSourceReader } from '../../../webhook/src/k8s/sources.ts';
import { readSources } from '../../../webhook/src/mutation/sources.ts';
import { SA_ISSUER, startKube, type Kube } from '../../env/kube.ts';
import { startCountingProxy } from '../registry/counting-proxy.ts';
import { decodePatch, harness, podReview, postReview } from '../../unit/webhook/helpers.ts';

const CANARY = 'CANARY-sources-8b2e';

describe('kubernetesSourceReader against kube-apiserver', () => {
  let kube: Kube;
  let ns: string;
  let silent: Server;
  const sockets: Socket[] = [];

  before(async () => {
    kube = await startKube();
    ns = await kube.createNamespace('sources');
    await kube.core.createNamespacedSecret({
      namespace: ns,
      body: {
        metadata: { name: 'db' },
        stringData: { password: CANARY, url: 'vault:secret/data/db#url' },
      },
    });
    await kube.core.createNamespacedConfigMap({
      namespace: ns,
      body: { metadata: { name: 'cfg' }, data: { mode: 'vault:secret/data/cfg#mode' } },
    });
    await kube.createServiceAccount(ns, 'nobody');
    // Accepts connections and never answers.
    silent = createServer((s) => sockets.push(s));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  });
  after(async () => {
    for (const s of sockets) s.destroy();
    silent?.close();
    await kube?.stop();
  });

  const webhookReader = () =>
    kubernetesSourceReader({
      timeoutMs: 5000,
      kubeConfig: kube.kubeConfig(kube.webhookToken),
    });

  it('reads and decodes a Secret and a ConfigMap; a missing one is undefined', async () => {
    const reader = webhookReader();
    assert.deepEqual(await reader.read(ns, { kind: 'secret', name: 'db' }), {
      password: CANARY,
      url: 'vault:secret/data/db#url',
    });
    assert.deepEqual(await reader.read(ns, { kind: 'configmap', name: 'cfg' }), {
      mode: 'vault:secret/data/cfg#mode',
    });
    assert.equal(await reader.read(ns, { kind: 'secret', name: 'nope' }), undefined);
    assert.equal(await reader.read(ns, { kind: 'configmap', name: 'nope' }), undefined);
  });

  it('a forbidden read rejects with the status only', async () => {
    const token = await kube.serviceAccountToken(ns, 'nobody', SA_ISSUER);
    const reader = kubernetesSourceReader({ timeoutMs: 5000, kubeConfig: kube.kubeConfig(token) });
    await assert.rejects(reader.read(ns, { kind: 'secret', name: 'db' }), (err: Error) => {
      assert.equal((err as { code?: unknown }).code, 403);
      assert.equal(err.message, 'HTTP 403');
      return true;
    });
    const index = await readSources(reader, ns, [{ kind: 'secret', name: 'db' }]);
    assert.deepEqual(index.get('secret/db'), { state: 'unreadable', reason: 'HTTP 403' });
  });

  it('a server that never answers: two attempts, then E_KUBERNETES_READ naming the timeout', async () => {
    const kc = new KubeConfig();
    const port = (silent.address() as AddressInfo).port;
    kc.loadFromOptions({
      clusters: [{ name: 'c', server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
      users: [{ name: 'u', token: 't' }],
      contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
      currentContext: 'x',
    });
    const failed: FailedRead[] = [];
    const reader = kubernetesSourceReader({
      timeoutMs: 200,
      kubeConfig: kc,
      onFailedAttempt: (f) => failed.push(f),
    });
    const timedOut = (err: unknown): boolean => {
      assert.ok(err instanceof WebhookError);
      assert.equal(err.code, 'E_KUBERNETES_READ');
      assert.equal(
        err.message,
        `configmap ${ns}/cfg could not be read from the Kubernetes API: no answer within 200 ms (2 tries)`,
      );
      return true;
    };
    // Not a source that could not be read (a warning, the pod admitted): the review is denied.
    await assert.rejects(readSources(reader, ns, [{ kind: 'configmap', name: 'cfg' }]), timedOut);
    assert.deepEqual(
      failed.map((f) => [f.kind, f.attempt, f.status, f.cause]),
      [
        ['configmap', 1, 'timeout', 'no answer within 200 ms'],
        ['configmap', 2, 'timeout', 'no answer within 200 ms'],
      ],
    );
  });

  it('through the handler, a slow apiserver denies the pod naming the timeout', async () => {
    const proxy = await startCountingProxy(new URL(kube.server));
    try {
      const kc = new KubeConfig();
      kc.loadFromOptions({
        clusters: [
          {
            name: 'p',
            server: `https://127.0.0.1:${proxy.port}`,
            caData: Buffer.from(kube.caPem).toString('base64'),
            skipTLSVerify: false,
          },
        ],
        users: [{ name: 'w', token: kube.webhookToken }],
        contexts: [{ name: 'p', cluster: 'p', user: 'w' }],
        currentContext: 'p',
      });
      // Two attempts of 400 ms fit in the harness's 2 s deadline.
      const h = harness({}, kubernetesSourceReader({ timeoutMs: 400, kubeConfig: kc }));
      proxy.stall(Infinity);
      const res = await postReview(
        h,
        podReview(
          {
            metadata: { name: 'slow' },
            spec: {
              containers: [
                {
                  name: 'app',
                  command: ['/app'],
                  env: [{ name: 'URL', valueFrom: { secretKeyRef: { name: 'db', key: 'url' } } }],
                },
              ],
            },
          },
          { namespace: ns },
        ),
      );
      const { response } = res.json();
      assert.equal(response.allowed, false, res.body);
      assert.equal(
        response.status?.message,
        `secret ${ns}/db could not be read from the Kubernetes API: no answer within 400 ms (2 tries)`,
      );
    } finally {
      await proxy.close();
    }
  });

  it('through the handler: the reference behind the Secret is found, no value leaves', async () => {
    const pod = (secret: string) =>
      podReview(
        {
          metadata: { name: 'p' },
          spec: {
            containers: [
              {
                name: 'app',
                command: ['/app'],
                env: [
                  { name: 'URL', valueFrom: { secretKeyRef: { name: secret, key: 'url' } } },
                  { name: 'PW', valueFrom: { secretKeyRef: { name: secret, key: 'password' } } },
                ],
                envFrom: [{ configMapRef: { name: 'cfg' } }],
              },
            ],
          },
        },
        { namespace: ns },
      );
    const h = harness({}, webhookReader());
    const res = await postReview(h, pod('db'));
    const { response } = res.json();
    assert.equal(response.allowed, true);
    assert.equal(response.warnings, undefined);
    const patch = decodePatch(response.patch) as { path: string; value?: unknown }[];
    assert.ok(patch.some((op) => op.path === '/spec/containers/0/command'));

    const token = await kube.serviceAccountToken(ns, 'nobody', SA_ISSUER);
    const denied = harness(
      {},
      kubernetesSourceReader({ timeoutMs: 5000, kubeConfig: kube.kubeConfig(token) }),
    );
    const res2 = await postReview(denied, pod('db'));
    assert.deepEqual(res2.json().response.warnings, [
      'secret "db" could not be read (HTTP 403): references in it are not detected',
      'configmap "cfg" could not be read (HTTP 403): references in it are not detected',
    ]);
    for (const text of [
      res.body,
      JSON.stringify(patch),
      res2.body,
      h.logs.join('\n'),
      denied.logs.join('\n'),
      await h.metrics.registry.metrics(),
    ]) {
      assert.ok(!text.includes(CANARY), `the canary leaked: ${text}`);
    }
  });
});
