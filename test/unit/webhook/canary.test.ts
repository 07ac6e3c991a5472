// A canary secret value, placed in Secrets, ConfigMaps, env and a failing read, never appears in
// any response, patch, log line or metric.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { SourceName } from '../../../webhook/src/mutation/sources.ts';
import { decodePatch, harness, podReview, postReview } from './helpers.ts';

const CANARY = 'CANARY-5d1f0c7e';

const reader = {
  read(_ns: string, s: SourceName): Promise<Record<string, string> | undefined> {
    const data: Record<string, Record<string, string>> = {
      'secret/plain': { password: CANARY, other: `prefix-${CANARY}` },
      // A Secret value that looks like a broken reference: the denial must not quote it.
      'secret/broken': { password: `vault:${CANARY} path#` },
      'secret/looks-like-ref': { token: `vault:${CANARY}` },
      'configmap/cfg': { url: `https://${CANARY}.example` },
      // Policed settings the webhook reads to check them (own-env.ts): never quoted back.
      'secret/settings': {
        VAULT_ADDR: `https://${CANARY}.example`,
        VAULT_CLIENT_TIMEOUT: CANARY,
        VAULT_SKIP_VERIFY: CANARY,
      },
    };
    if (s.name === 'forbidden') return Promise.reject(new Error(`403 forbidden: ${CANARY}`));
    return Promise.resolve(data[`${s.kind}/${s.name}`]);
  },
};

function review(env: unknown[], envFrom: unknown[] = []) {
  return podReview(
    {
      metadata: { name: 'p', annotations: { 'vault-inject.dev/role': 'r' } },
      spec: {
        containers: [
          { name: 'app', image: 'x', command: ['/x'], args: ['--flag'], env, envFrom },
          { name: 'side', image: 'y', command: ['/y'], env: [{ name: 'S', value: CANARY }] },
        ],
      },
    },
    { namespace: 'ns' },
  );
}

const cases: [string, ReturnType<typeof review>][] = [
  [
    'mutated pod',
    review(
      [
        { name: 'LITERAL', value: CANARY },
        { name: 'DB', value: 'vault:secret/data/db#password' },
        { name: 'FROM_SECRET', valueFrom: { secretKeyRef: { name: 'plain', key: 'password' } } },
        { name: 'FROM_CM', valueFrom: { configMapKeyRef: { name: 'cfg', key: 'url' } } },
        { name: 'FORBIDDEN', valueFrom: { secretKeyRef: { name: 'forbidden', key: 'k' } } },
      ],
      [{ secretRef: { name: 'plain' } }, { configMapRef: { name: 'cfg' } }],
    ),
  ],
  [
    'denied pod',
    review([{ name: 'BROKEN', valueFrom: { secretKeyRef: { name: 'broken', key: 'password' } } }]),
  ],
  ['denied pod via envFrom', review([], [{ secretRef: { name: 'broken' } }])],
  [
    'a policed setting from a Secret, not allowed',
    review([
      { name: 'DB', value: 'vault:secret/data/db#password' },
      { name: 'VAULT_ADDR', valueFrom: { secretKeyRef: { name: 'settings', key: 'VAULT_ADDR' } } },
    ]),
  ],
  [
    'policed settings through envFrom',
    review(
      [{ name: 'DB', value: 'vault:secret/data/db#password' }],
      [{ secretRef: { name: 'settings' } }],
    ),
  ],
  [
    'vault:login outside VAULT_TOKEN',
    review([{ name: 'T', valueFrom: { secretKeyRef: { name: 'looks-like-ref', key: 'token' } } }]),
  ],
];

describe('canary: no value read from a Secret or ConfigMap leaves the webhook', () => {
  for (const [name, payload] of cases) {
    it(name, async () => {
      const h = harness({}, reader);
      const res = await postReview(h, payload);
      assert.equal(res.statusCode, 200);
      const { response } = res.json();
      const patch = JSON.stringify(decodePatch(response.patch));
      const metrics = await h.metrics.registry.metrics();
      for (const [where, text] of [
        ['response', JSON.stringify({ ...response, patch: undefined })],
        ['patch', patch],
        ['logs', h.logs.join('\n')],
        ['metrics', metrics],
      ] as const) {
        assert.ok(!text.includes(CANARY), `the canary appears in the ${where}: ${text}`);
      }
      assert.equal(h.logs.length, 1, 'one log line per review');
      const line = JSON.parse(h.logs[0] as string);
      assert.equal(line.pod, 'p');
      assert.equal(line.namespace, 'ns');
      assert.equal(typeof line.durationMs, 'number');
    });
  }

  it('the denial names the variable and the Secret, not the value', async () => {
    const res = await postReview(harness({}, reader), cases[1]?.[1] ?? {});
    assert.equal(
      res.json().response.status.message,
      'container "app", env BROKEN (secret "broken" key password): holds an invalid reference (details withheld: it is a Secret value)',
    );
  });
});

describe('one JSON log line per review', () => {
  const post = (h: ReturnType<typeof harness>, object: unknown, dryRun = false) =>
    postReview(h, podReview(object, { uid: 'u-2', namespace: 'shop', dryRun }));

  it('namespace, pod (or generateName*), the mutated containers, result and duration', async () => {
    const h = harness({}, reader);
    await post(
      h,
      {
        metadata: { generateName: 'web-7f9c-' },
        spec: {
          containers: [
            { name: 'web', command: ['/w'], env: [{ name: 'A', value: 'vault:s/a#k' }] },
            { name: 'side', command: ['/s'], env: [{ name: 'B', value: CANARY }] },
            { name: 'job', command: ['/j'], env: [{ name: 'C', value: '${vault:s/c#k}' }] },
          ],
        },
      },
      true,
    );
    assert.equal(h.logs.length, 1);
    const line = JSON.parse(h.logs[0] as string);
    assert.equal(line.msg, 'admission review');
    assert.equal(line.level, 30);
    assert.equal(line.namespace, 'shop');
    assert.equal(line.pod, 'web-7f9c-*');
    assert.equal(line.dryRun, true);
    assert.equal(line.result, 'mutated');
    assert.deepEqual(line.containers, ['web', 'job']);
    assert.ok(line.durationMs >= 0);
    assert.ok(!h.logs[0]?.includes(CANARY));
  });

  it('a denial: its code and reason, no containers', async () => {
    const h = harness({}, reader);
    await post(h, {
      metadata: { name: 'p' },
      spec: {
        containers: [{ name: 'app', command: ['/a'], env: [{ name: 'A', value: 'vault:x' }] }],
      },
    });
    const line = JSON.parse(h.logs[0] as string);
    assert.equal(line.result, 'denied');
    assert.equal(line.code, 'E_REFERENCE');
    assert.match(line.reason, /^container "app", env A: /);
    assert.deepEqual(line.containers, []);
  });
});
