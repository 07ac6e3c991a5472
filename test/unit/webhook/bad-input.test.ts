// Bad input never crashes the process: each row is a request and the answer it must get.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { admissionApp, decodePatch, harness, podReview, postReview } from './helpers.ts';
import type { SourceReader } from '../../../webhook/src/mutation/sources.ts';

const UID = '11111111-2222-4333-8444-555555555555';
const pod = (env: unknown[] = [{ name: 'A', value: 'vault:secret/a#b' }]) => ({
  metadata: { name: 'p' },
  spec: { containers: [{ name: 'app', image: 'x', command: ['/x'], env }] },
});
// The object (or its absence) comes with the request's other fields.
const review = (request: Record<string, unknown>) =>
  podReview(undefined, { uid: UID, namespace: 'ns', ...request });

interface Row {
  name: string;
  payload: string;
  contentType?: string;
  status: number;
  message?: RegExp;
}

const rows: Row[] = [
  { name: 'malformed JSON', payload: '{"apiVersion": ', status: 400, message: /JSON/i },
  { name: 'empty body', payload: '', status: 400 },
  {
    name: 'plain text',
    payload: 'hello',
    contentType: 'text/plain',
    status: 400,
    message: /not a JSON object/,
  },
  {
    name: 'another media type',
    payload: '<x/>',
    contentType: 'application/xml',
    status: 400,
    message: /media type/i,
  },
  { name: 'a JSON array', payload: '[]', status: 400, message: /not a JSON object/ },
  { name: 'a JSON string', payload: '"x"', status: 400, message: /not a JSON object/ },
  { name: 'null', payload: 'null', status: 400, message: /not a JSON object/ },
  {
    name: 'body over 3 MiB',
    payload: JSON.stringify({ ...review({ object: pod() }), pad: 'x'.repeat(3 * 1024 * 1024) }),
    status: 400,
    message: /too large/i,
  },
  {
    name: 'wrong apiVersion',
    payload: JSON.stringify({
      ...review({ object: pod() }),
      apiVersion: 'admission.k8s.io/v1beta1',
    }),
    status: 400,
    message: /apiVersion must be "admission.k8s.io\/v1", got "admission.k8s.io\/v1beta1"/,
  },
  {
    name: 'wrong kind',
    payload: JSON.stringify({ ...review({ object: pod() }), kind: 'Pod' }),
    status: 400,
    message: /kind must be "AdmissionReview"/,
  },
  {
    name: 'no request',
    payload: JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' }),
    status: 400,
    message: /"request"/,
  },
  { name: 'no uid', payload: JSON.stringify(review({ uid: '' })), status: 400, message: /uid/ },
  {
    name: 'no operation',
    payload: JSON.stringify(review({ operation: 7 })),
    status: 400,
    message: /operation/,
  },
  {
    name: 'pod without object',
    payload: JSON.stringify(review({})),
    status: 400,
    message: /request.object/,
  },
  {
    name: 'pod without containers',
    payload: JSON.stringify(review({ object: { spec: {} } })),
    status: 400,
    message: /spec.containers/,
  },
  {
    name: 'containers not a list',
    payload: JSON.stringify(review({ object: { spec: { containers: {}, initContainers: 3 } } })),
    status: 400,
  },
  {
    name: 'env value not a string',
    payload: JSON.stringify(review({ object: pod([{ name: 'A', value: 5 }]) })),
    status: 400,
    message: /env\[0\]\.value/,
  },
  {
    name: 'env entry without name',
    payload: JSON.stringify(review({ object: pod([{ value: 'vault:a#b' }]) })),
    status: 400,
    message: /env\[0\]\.name/,
  },
  // Shapes the API server never sends, answered 400 like the others (they were a 500 and an
  // "internal error" log line with a stack).
  {
    name: 'an annotation value not a string',
    payload: JSON.stringify(
      review({
        object: { ...pod(), metadata: { name: 'p', annotations: { 'vault-inject.dev/role': 5 } } },
      }),
    ),
    status: 400,
    message:
      /"request\.object\.metadata\.annotations\["vault-inject\.dev\/role"\]" is not a string/,
  },
  {
    name: 'annotations not an object',
    payload: JSON.stringify(review({ object: { ...pod(), metadata: { annotations: ['x'] } } })),
    status: 400,
    message: /"request\.object\.metadata\.annotations" is not an object/,
  },
  {
    name: 'metadata not an object',
    payload: JSON.stringify(review({ object: { ...pod(), metadata: 'p' } })),
    status: 400,
    message: /"request\.object\.metadata" is not an object/,
  },
  {
    name: 'an envFrom entry that is not an object',
    payload: JSON.stringify(
      review({
        object: { spec: { containers: [{ name: 'app', command: ['/x'], envFrom: [null] }] } },
      }),
    ),
    status: 400,
    message: /"request\.object\.spec\.containers\[0\]\.envFrom\[0\]" is not an object/,
  },
  {
    name: 'an env valueFrom that is not an object',
    payload: JSON.stringify(review({ object: pod([{ name: 'A', valueFrom: 'x' }]) })),
    status: 400,
    message: /"request\.object\.spec\.containers\[0\]\.env\[0\]\.valueFrom" is not an object/,
  },
  {
    name: 'a volumeMount without a name',
    payload: JSON.stringify(
      review({
        object: { spec: { containers: [{ name: 'app', command: ['/x'], volumeMounts: [null] }] } },
      }),
    ),
    status: 400,
    message: /"request\.object\.spec\.containers\[0\]\.volumeMounts\[0\]\.name" is missing/,
  },
  {
    name: 'volumes not a list',
    payload: JSON.stringify(review({ object: { ...pod(), spec: { ...pod().spec, volumes: {} } } })),
    status: 400,
    message: /"request\.object\.spec\.volumes" is not a list/,
  },
  {
    name: 'a volume without a name',
    payload: JSON.stringify(
      review({ object: { ...pod(), spec: { ...pod().spec, volumes: [{ emptyDir: {} }] } } }),
    ),
    status: 400,
    message: /"request\.object\.spec\.volumes\[0\]\.name" is missing/,
  },
  {
    name: 'an imagePullSecrets entry that is not an object',
    payload: JSON.stringify(
      review({ object: { ...pod(), spec: { ...pod().spec, imagePullSecrets: 'regcred' } } }),
    ),
    status: 400,
    message: /"request\.object\.spec\.imagePullSecrets" is not a list/,
  },
  {
    name: 'an object nested a million levels deep',
    payload: JSON.stringify(
      review({ object: pod([{ name: 'A', value: 'vault:secret/a#b' }]) }),
    ).replace('"metadata":{', `"metadata":{"deep":${'['.repeat(1e6)}${']'.repeat(1e6)},`),
    status: 400,
    message: /nested too deeply/,
  },
  {
    name: 'prototype pollution',
    payload: `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","__proto__":{"x":1},"request":{}}`,
    status: 400,
  },
];

describe('bad input: HTTP 400 with the reason', () => {
  for (const row of rows) {
    it(row.name, async () => {
      const h = harness();
      const app = admissionApp(h);
      const res = await app.inject({
        method: 'POST',
        url: '/mutate',
        payload: row.payload,
        headers: { 'content-type': row.contentType ?? 'application/json' },
      });
      assert.equal(res.statusCode, row.status, res.body);
      const body = res.json();
      assert.equal(body.code, 'E_BAD_REVIEW');
      if (row.message) assert.match(body.message, row.message);
      const metrics = await h.metrics.registry.metrics();
      assert.match(
        metrics,
        /vault_inject_admission_requests_total\{operation="[A-Z]+",result="invalid"\} 1/,
      );
      await app.close();
    });
  }
});

describe('requests that are answered, not rejected', () => {
  const allowedRows: { name: string; request: Record<string, unknown> }[] = [
    {
      name: 'a non-Pod object is allowed without a patch',
      request: { kind: { group: 'apps', version: 'v1', kind: 'Deployment' }, object: { spec: {} } },
    },
    {
      name: 'an UPDATE is allowed without a patch',
      request: { operation: 'UPDATE', object: pod() },
    },
    { name: 'a DELETE is allowed without a patch', request: { operation: 'DELETE', object: null } },
    {
      name: 'a subresource is allowed without a patch',
      request: { subResource: 'ephemeralcontainers', object: pod() },
    },
  ];
  for (const row of allowedRows) {
    it(row.name, async () => {
      const res = await postReview(harness(), review(row.request));
      assert.equal(res.statusCode, 200);
      assert.deepEqual(res.json().response, { uid: UID, allowed: true });
    });
  }

  it('an invalid reference is denied, naming container, variable and problem', async () => {
    const payload = review({ object: pod([{ name: 'DB_PASSWORD', value: 'vault:secret/db' }]) });
    const res = await postReview(harness(), payload);
    const r = res.json().response;
    assert.equal(r.allowed, false);
    assert.equal(
      r.status.message,
      'container "app", env DB_PASSWORD: missing "#KEY" after the path',
    );
  });

  it('a dryRun request gets the same patch', async () => {
    const app = admissionApp(harness());
    const a = await app.inject({
      method: 'POST',
      url: '/mutate',
      payload: review({ object: pod() }),
    });
    const b = await app.inject({
      method: 'POST',
      url: '/mutate',
      payload: review({ object: pod(), dryRun: true }),
    });
    assert.ok(decodePatch(a.json().response.patch).length > 0);
    assert.equal(a.json().response.patch, b.json().response.patch);
  });

  it('a Secret that cannot be read is a warning, not a failure', async () => {
    const reader: SourceReader = {
      read: () => Promise.reject(Object.assign(new Error('nope'), { code: 403 })),
    };
    const env = [{ name: 'A', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } }];
    const res = await postReview(harness({}, reader), review({ object: pod(env) }));
    assert.deepEqual(res.json().response, {
      uid: UID,
      allowed: true,
      warnings: ['secret "s" could not be read (HTTP 403): references in it are not detected'],
    });
  });

  it('a reader that hangs is cut off by the deadline and the pod denied', async () => {
    const h = harness({}, { read: () => new Promise(() => undefined) });
    const env = [{ name: 'A', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } }];
    const res = await postReview(
      { ...h, deps: { ...h.deps, deadlineMs: 50 } },
      review({ object: pod(env) }),
    );
    const r = res.json().response;
    assert.equal(r.allowed, false);
    assert.equal(r.status.message, 'the webhook did not finish within 50 ms');
  });
});

// Hostile values are never echoed whole: a 2 MiB annotation ended up in the denial and in one log
// line, 10,000 names in `containers` gave 10,000 warnings. What is told is capped, with an
// ellipsis and the count of what was left out.
describe('hostile values are echoed capped', () => {
  const MiB2 = 2 * 1024 * 1024;
  const withAnnotations = (annotations: Record<string, string>, env?: unknown[]) => ({
    metadata: { name: 'p', annotations },
    spec: {
      containers: [
        { name: 'app', image: 'x', command: ['/x'], env: env ?? pod().spec.containers[0]?.env },
      ],
    },
  });
  async function answer(object: unknown) {
    const h = harness();
    const res = await postReview(h, podReview(object, { uid: UID, namespace: 'ns' }));
    assert.equal(res.statusCode, 200, res.body.slice(0, 200));
    const line = h.logs.find((l) => l.includes('"admission review"')) ?? '';
    return { response: res.json().response, line };
  }

  it('a 2 MiB annotation value: the denial and the log line quote 120 characters of it', async () => {
    const value = `https://${'a'.repeat(MiB2)}`;
    const { response, line } = await answer(
      withAnnotations({ 'vault-inject.dev/vault-addr': value }),
    );
    assert.equal(response.allowed, false);
    const message: string = response.status.message;
    assert.ok(message.length < 400, `${message.length} characters`);
    assert.match(
      message,
      /^annotation vault-inject\.dev\/vault-addr: "https:\/\/a+…" \(2097040 more characters\) is not an allowed Vault address/,
    );
    assert.ok(line.length < 2000, `the log line has ${line.length} characters`);
  });

  it('a 2 MiB reference: the denial quotes a capped part of it', async () => {
    const env = [{ name: 'A', value: `vault:${'a b'.repeat(MiB2 / 3)}#k` }];
    const { response, line } = await answer(withAnnotations({}, env));
    assert.equal(response.allowed, false);
    assert.match(
      response.status.message,
      /^container "app", env A: the path "a ba b.*… \(\d+ more characters\)$/,
    );
    assert.ok(response.status.message.length < 700);
    assert.ok(line.length < 2000, `the log line has ${line.length} characters`);
  });

  it('10,000 unknown names in containers: 20 warnings and a count of the rest', async () => {
    const names = Array.from({ length: 10_000 }, (_, i) => `ghost-${i}`).join(',');
    const { response, line } = await answer(
      withAnnotations({ 'vault-inject.dev/containers': `app,${names}` }),
    );
    assert.equal(response.allowed, true);
    assert.equal(response.warnings.length, 21);
    assert.equal(
      response.warnings[0],
      'annotation vault-inject.dev/containers names no container "ghost-0"',
    );
    assert.equal(response.warnings[20], '… and 9980 more warnings');
    assert.ok(line.length < 5000, `the log line has ${line.length} characters`);
  });

  it('many invalid references: 20 problems and a count of the rest', async () => {
    const env = Array.from({ length: 100 }, (_, i) => ({ name: `V${i}`, value: 'vault:nokey' }));
    const { response } = await answer(withAnnotations({}, env));
    const problems = (response.status.message as string).split('; ');
    assert.equal(problems.length, 21);
    assert.equal(problems[0], 'container "app", env V0: missing "#KEY" after the path');
    assert.equal(problems[20], '… and 80 more problems');
  });
});
