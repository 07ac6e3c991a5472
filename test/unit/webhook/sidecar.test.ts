// `vault-inject.dev/agent: sidecar` (webhook/src/mutation/sidecar.ts, docs/configuration.md#sidecar):
// one restartable init container renders and refreshes the files of every receiving container, each
// into that container's own volume; file-only containers are not wrapped; bad values and reload
// annotations with it are denied naming the annotation.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fjp from 'fast-json-patch';
import type { Container, Pod } from '../../../webhook/src/mutation/types.ts';
import { decodePatch, harness, podReview, postReview } from './helpers.ts';

const FLAGS = { 'vault-addr': 'https://vault.vault:8200' };
const PROGRAM = '/vault-inject/bin/vault-inject-env';

function pod(annotations: Record<string, string>, withEnv = false): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'p', namespace: 'apps', annotations },
    spec: {
      containers: [
        { name: 'web', image: 'registry.example/web:1', command: ['/web', '--serve'] },
        {
          name: 'worker',
          image: 'registry.example/worker:1',
          command: ['/worker'],
          ...(withEnv ? { env: [{ name: 'DB', value: 'vault:secret/data/app#db' }] } : {}),
        },
      ],
    },
  };
}

const FILES = {
  'vault-inject.dev/agent': 'sidecar',
  'vault-inject.dev/secret-file-app.conf': 'password=${vault:secret/data/app#password}',
};

async function review(p: Pod) {
  const res = await postReview(harness(FLAGS), podReview(p, { namespace: 'apps' }));
  assert.equal(res.statusCode, 200, res.body);
  const { response } = res.json();
  if (!response.allowed) return { allowed: false, message: String(response.status?.message) };
  const ops = decodePatch(response.patch) as fjp.Operation[];
  const after: Pod = fjp.applyPatch(structuredClone(p), ops, true, false).newDocument;
  return { allowed: true, after, warnings: (response.warnings ?? []) as string[], message: '' };
}

const envOf = (c: Container | undefined): Record<string, string | undefined> =>
  Object.fromEntries((c?.env ?? []).map((e) => [e.name, e.value]));

describe('agent: sidecar', () => {
  it('adds one native sidecar; file-only containers keep their command', async () => {
    const r = await review(pod(FILES));
    assert.equal(r.allowed, true, r.message);
    assert.ok(r.after);
    const spec = r.after.spec;
    assert.deepEqual(
      spec.initContainers?.map((c) => c.name),
      ['vault-inject-agent'],
      'no copy container: nothing runs the bundle',
    );
    const sidecar = spec.initContainers?.[0];
    assert.ok(sidecar);
    assert.equal(sidecar.restartPolicy, 'Always');
    assert.deepEqual(sidecar.command, [PROGRAM, '--sidecar']);
    assert.deepEqual(sidecar['startupProbe'], {
      exec: { command: [PROGRAM, '--sidecar-ready'] },
      periodSeconds: 1,
      failureThreshold: 600,
    });
    const env = envOf(sidecar);
    assert.equal(env['VAULT_ADDR'], 'https://vault.vault:8200');
    assert.equal(env['VAULT_INJECT_SIDECAR_DIRS'], '/vault-inject-files/0:/vault-inject-files/1');
    assert.match(String(env['VAULT_INJECT_SECRET_FILES']), /app\.conf/);
    assert.deepEqual(
      sidecar.volumeMounts?.map((m) => [m.name, m.mountPath]),
      [
        ['vault-inject-files-0', '/vault-inject-files/0'],
        ['vault-inject-files-1', '/vault-inject-files/1'],
        ['vault-inject-agent', '/vault-inject-agent'],
      ],
    );
    const sc = sidecar.securityContext as Record<string, unknown>;
    assert.equal(sc['runAsNonRoot'], true);
    assert.equal(sc['allowPrivilegeEscalation'], false);
    assert.equal(sc['readOnlyRootFilesystem'], true);
    assert.ok(sidecar.resources?.limits?.['memory']);
    // Each app: its command as it was, only its own volume, no init settings.
    spec.containers.forEach((c, i) => {
      assert.deepEqual(c.command, i === 0 ? ['/web', '--serve'] : ['/worker']);
      assert.equal(c.args, undefined);
      assert.equal(c.env, undefined);
      assert.deepEqual(c.volumeMounts, [
        { name: `vault-inject-files-${i}`, mountPath: '/vault/secrets', readOnly: true },
      ]);
    });
    assert.deepEqual(
      spec.volumes?.map((v) => v.name),
      ['vault-inject-files-0', 'vault-inject-files-1', 'vault-inject-agent'],
    );
    assert.ok(!JSON.stringify(r.after).includes('"vault-inject"'), 'no bundle volume');
  });

  it('leaves a pod it mutated as it is (reinvocation, a re-applied manifest)', async () => {
    for (const withEnv of [false, true]) {
      const once = await review(pod(FILES, withEnv));
      assert.ok(once.after, once.message);
      const res = await postReview(harness(FLAGS), podReview(once.after, { namespace: 'apps' }));
      const { response } = res.json();
      assert.equal(response.allowed, true, JSON.stringify(response.status));
      const ops = response.patch === undefined ? [] : decodePatch(response.patch);
      assert.deepEqual(ops, [], `withEnv ${withEnv}`);
    }
  });

  it('still wraps a container with env references, without files', async () => {
    const r = await review(pod(FILES, true));
    assert.equal(r.allowed, true, r.message);
    assert.ok(r.after);
    const spec = r.after.spec;
    assert.deepEqual(
      spec.initContainers?.map((c) => c.name),
      ['vault-inject-copy', 'vault-inject-agent'],
    );
    const [web, worker] = spec.containers;
    assert.deepEqual(web?.command, ['/web', '--serve']);
    assert.deepEqual(worker?.command, [PROGRAM]);
    assert.deepEqual(worker?.args, ['/worker']);
    assert.equal(envOf(worker)['VAULT_INJECT_SECRET_FILES'], undefined);
    assert.ok(
      worker?.volumeMounts?.some((m) => m.name === 'vault-inject-files-1' && m.readOnly === true),
    );
  });

  it('denies a bad value and a reload annotation, naming them', async () => {
    const bad = await review(pod({ ...FILES, 'vault-inject.dev/agent': 'daemon' }));
    assert.equal(bad.allowed, false);
    assert.match(bad.message, /vault-inject\.dev\/agent/);
    assert.match(bad.message, /"daemon" is not sidecar/);
    for (const [key, value] of [
      ['vault-inject.dev/reload-signal', 'SIGHUP'],
      ['vault-inject.dev/reload', 'restart'],
    ] as const) {
      const r = await review(pod({ ...FILES, [key]: value }));
      assert.equal(r.allowed, false, key);
      assert.match(
        r.message,
        new RegExp(`annotation ${key}: with vault-inject.dev/agent: sidecar`),
      );
    }
  });

  it('warns when no container receives files', async () => {
    const r = await review(pod({ 'vault-inject.dev/agent': 'sidecar' }, true));
    assert.equal(r.allowed, true, r.message);
    assert.ok(
      r.warnings?.includes(
        'annotation vault-inject.dev/agent ignored: no container receives secret files',
      ),
      JSON.stringify(r.warnings),
    );
    assert.ok(!r.after?.spec.initContainers?.some((c) => c.name === 'vault-inject-agent'));
  });
});

describe('vault.hashicorp.com/agent-pre-populate-only', () => {
  const V = 'vault.hashicorp.com/';
  const k8s = (value: string): Pod =>
    pod({
      [`${V}agent-inject`]: 'true',
      [`${V}agent-inject-secret-db`]: 'secret/data/db',
      [`${V}agent-pre-populate-only`]: value,
    });
  const sidecarOf = (p: Pod | undefined) =>
    p?.spec.initContainers?.find((c) => c.name === 'vault-inject-agent');

  it('"false" (its agent sidecar) is agent: sidecar; "true" is the init render alone', async () => {
    const on = await review(k8s('false'));
    assert.equal(on.allowed, true, on.message);
    assert.equal(sidecarOf(on.after)?.restartPolicy, 'Always');
    assert.deepEqual(on.after?.spec.containers[0]?.command, ['/web', '--serve']);
    assert.ok(!on.warnings?.some((w) => w.includes('pre-populate-only')), 'not warned');
    const off = await review(k8s('true'));
    assert.equal(off.allowed, true, off.message);
    assert.equal(sidecarOf(off.after), undefined);
    assert.deepEqual(off.after?.spec.containers[0]?.command, [PROGRAM]);
  });

  it('a value that is not a boolean is denied naming it', async () => {
    const r = await review(k8s('sometimes'));
    assert.equal(r.allowed, false);
    assert.match(r.message, /vault\.hashicorp\.com\/agent-pre-populate-only/);
    assert.match(r.message, /"sometimes" is not true or false/);
  });
});
