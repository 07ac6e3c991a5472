// The admission pipeline around the registry lookup, with the fake registry of helpers.ts behind
// the real seam adapter: what the lookup is asked, when it is not asked at all, the failure
// policy, the deadline, and that no pull secret credential leaves the webhook.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ImageCommandLookup } from '../../../webhook/src/registry/image-command.ts';
import { admissionApp, decodePatch, harness } from './helpers.ts';

const CANARY = 'CANARY-7f3e9a1c-never-leak'; // the pull secrets' password in cluster.json

type Json = Record<string, unknown>;

function review(spec: Json, uid = 'u-registry') {
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid,
      kind: { group: '', version: 'v1', kind: 'Pod' },
      operation: 'CREATE',
      namespace: 'apps',
      object: { metadata: { name: 'p' }, spec },
    },
  };
}

const env = [{ name: 'DB', value: 'vault:secret/data/db#password' }];
const container = (name: string, image: string, extra: Json = {}) => ({
  name,
  image,
  env,
  ...extra,
});

async function send(h: ReturnType<typeof harness>, spec: Json) {
  const app = admissionApp(h);
  const res = await app.inject({ method: 'POST', url: '/mutate', payload: review(spec) });
  await app.close();
  assert.equal(res.statusCode, 200, res.body);
  const response = res.json().response as Json & { patch?: string };
  return { response, patch: decodePatch(response.patch) as Json[] };
}

describe('pipeline: registry lookups', () => {
  it('a container with a command never causes a lookup', async () => {
    const h = harness();
    const { response } = await send(h, {
      containers: [container('app', 'registry.example/down:1.0', { command: ['/app'] })],
    });
    assert.equal(response.allowed, true);
    assert.deepEqual(h.lookups, []);
  });

  it('asks with the namespace, pull secrets, service account and placement of the pod', async () => {
    const h = harness();
    const { response } = await send(h, {
      serviceAccountName: 'app',
      imagePullSecrets: [{ name: 'regcred' }],
      nodeSelector: { 'kubernetes.io/arch': 'arm64' },
      containers: [
        container('a', 'registry.example/multi:1.0'),
        container('b', 'registry.example/multi:1.0', { args: ['--x'] }),
      ],
    });
    assert.equal(response.allowed, true, JSON.stringify(response));
    assert.equal(h.lookups.length, 2);
    for (const request of h.lookups) {
      assert.equal(request.platform?.architecture, 'arm64');
      assert.deepEqual(
        (request.credentials ?? []).map((c) => c.name),
        ['secret apps/regcred', 'secret apps/sa-regcred'],
      );
    }
    const argsOps = (
      await send(harness(), {
        nodeSelector: { 'kubernetes.io/arch': 'arm64' },
        containers: [container('b', 'registry.example/multi:1.0', { args: ['--x'] })],
      })
    ).patch.filter((op) => op.path === '/spec/containers/0/args');
    assert.deepEqual(argsOps[0]?.value, ['/arm64/server', '--x']);
  });

  it('uses the `default` service account when the pod names none', async () => {
    const h = harness();
    const { response } = await send(h, {
      containers: [container('team', 'registry.example/team/app:1.0')],
    });
    // Only apps/app's service account holds the team registry's secret.
    assert.equal(response.allowed, false);
    assert.match(
      String((response.status as Json).message),
      /container "team" has no command and its image could not be looked up: image "registry.example\/team\/app:1.0" \(registry registry.example\): not authorized/,
    );
  });

  it('deny: every failing container is named in one message', async () => {
    const { response } = await send(harness(), {
      containers: [
        container('a', 'registry.example/down:1.0'),
        container('b', 'registry.example/nope:1.0'),
        container('c', 'registry.example/app:1.0'),
      ],
    });
    const message = String((response.status as Json).message);
    assert.match(message, /container "a" .*timed out.*; container "b" .*not found/);
    assert.doesNotMatch(message, /container "c"/);
  });

  it('admit: the whole pod is admitted unmutated with a warning, counted as failed_open', async () => {
    const h = harness({ 'registry-failure-policy': 'admit' });
    const { response, patch } = await send(h, {
      containers: [
        container('a', 'registry.example/down:1.0'),
        container('c', 'registry.example/app:1.0'),
      ],
    });
    assert.equal(response.allowed, true);
    assert.deepEqual(patch, []);
    assert.deepEqual(response.warnings, [
      'container "a" has no command and its image could not be looked up: image "registry.example/down:1.0" (registry registry.example): timed out: no answer within 2000 ms; pod admitted without injection (--registry-failure-policy=admit)',
    ]);
    const metrics = await h.metrics.registry.metrics();
    assert.match(
      metrics,
      /vault_inject_admission_requests_total\{operation="CREATE",result="failed_open"\} 1/,
    );
    assert.match(metrics, /vault_inject_registry_lookups_total\{result="timeout"\} 1/);
    assert.match(metrics, /vault_inject_registry_lookups_total\{result="success"\} 1/);
  });

  it('admit never admits an image that has nothing to run', async () => {
    const { response } = await send(harness({ 'registry-failure-policy': 'admit' }), {
      containers: [container('a', 'registry.example/empty:1.0')],
    });
    assert.equal(response.allowed, false);
    assert.match(String((response.status as Json).message), /sets neither ENTRYPOINT nor CMD/);
  });

  it('a lookup that never answers still gets an answer within the deadline', async () => {
    const h = harness({ 'registry-failure-policy': 'admit' });
    const hanging: ImageCommandLookup = { lookup: () => new Promise(() => undefined) };
    const deps = { ...h.deps, images: hanging, deadlineMs: 200 };
    const started = performance.now();
    const { response } = await send(
      { ...h, deps },
      {
        containers: [container('a', 'registry.example/app:1.0')],
      },
    );
    assert.ok(performance.now() - started < 2000);
    assert.equal(response.allowed, false);
    assert.match(String((response.status as Json).message), /did not finish within 200 ms/);
  });

  it('no pull secret credential in the response, patch, logs or metrics', async () => {
    for (const policy of ['deny', 'admit']) {
      const h = harness({ 'registry-failure-policy': policy });
      const { response, patch } = await send(h, {
        serviceAccountName: 'app',
        imagePullSecrets: [{ name: 'regcred' }],
        containers: [
          container('a', 'registry.example/private/app:1.0'),
          container('b', 'registry.example/team/app:1.0'),
          container('c', 'registry.example/down:1.0'),
        ],
      });
      const metrics = await h.metrics.registry.metrics();
      for (const [where, text] of [
        ['response', JSON.stringify({ ...response, patch: undefined })],
        ['patch', JSON.stringify(patch)],
        ['logs', h.logs.join('\n')],
        ['metrics', metrics],
      ] as const) {
        assert.ok(!text.includes(CANARY), `the canary appears in the ${where}: ${text}`);
        assert.ok(!text.includes('puller'), `a user name appears in the ${where}: ${text}`);
      }
    }
  });
});
