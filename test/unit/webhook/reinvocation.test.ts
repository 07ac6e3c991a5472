// reinvocationPolicy: IfNeeded. After another webhook has added a container with a reference to a
// pod we mutated, the second call injects that container alone: the volume, the copy init
// container and the status annotation are not added twice, the containers we injected stay as
// they are.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import fjp from 'fast-json-patch';
import type { Pod } from '../../../webhook/src/mutation/types.ts';
import { FIXTURES, admissionApp, decodePatch, harness, podReview, postReview } from './helpers.ts';

const read = (file: string): Record<string, unknown> =>
  JSON.parse(readFileSync(new URL(file, FIXTURES), 'utf8'));

describe('reinvocation', () => {
  it('injects only the container another webhook added after us', async () => {
    const review = read('command-args/review.json') as { request: { object: Pod } };
    const mutated = read('command-args/pod-after.json') as unknown as Pod;
    const added = structuredClone(mutated);
    added.spec.containers.push({
      name: 'late-sidecar',
      image: 'registry.example/late:1',
      command: ['/late'],
      env: [{ name: 'TOKEN', value: 'vault:secret/data/late#token' }],
    });
    const again = structuredClone(review);
    again.request.object = added;
    const app = admissionApp(harness());
    const res = await app.inject({ method: 'POST', url: '/mutate', payload: again });
    await app.close();
    const ops = decodePatch(res.json().response.patch) as fjp.Operation[];
    const index = added.spec.containers.length - 1;
    assert.ok(ops.length > 0);
    for (const op of ops) {
      assert.ok(
        op.path.startsWith(`/spec/containers/${index}/`),
        `only the new container changes: ${op.op} ${op.path}`,
      );
    }
    const after = fjp.applyPatch(structuredClone(added), ops, true, false).newDocument;
    const late = after.spec.containers[index];
    assert.deepEqual(late?.command, ['/vault-inject/bin/vault-inject-env']);
    assert.deepEqual(late?.args, ['/late']);
    assert.deepEqual(late?.volumeMounts, [
      { name: 'vault-inject', mountPath: '/vault-inject', readOnly: true },
    ]);
    assert.deepEqual(after.spec.containers.slice(0, index), mutated.spec.containers);
    assert.deepEqual(after.spec.initContainers, mutated.spec.initContainers);
    assert.deepEqual(after.spec.volumes, mutated.spec.volumes);
  });

  it('an init container added in front of the copy container gets the copy moved before it', async () => {
    // Init containers run in order: one that runs the init program must come after the copy.
    const review = read('command-args/review.json') as { request: { object: Pod } };
    const mutated = read('command-args/pod-after.json') as unknown as Pod;
    const added = structuredClone(mutated);
    const early = {
      name: 'early-migrate',
      image: 'registry.example/migrate:1',
      command: ['/migrate'],
      env: [{ name: 'DB', value: 'vault:secret/data/db#password' }],
    };
    added.spec.initContainers = [early, ...(added.spec.initContainers ?? [])];
    const again = structuredClone(review);
    again.request.object = added;
    const app = admissionApp(harness());
    const res = await app.inject({ method: 'POST', url: '/mutate', payload: again });
    await app.close();
    assert.equal(res.json().response.allowed, true);
    const ops = decodePatch(res.json().response.patch) as fjp.Operation[];
    const after = fjp.applyPatch(structuredClone(added), ops, true, false).newDocument;
    assert.deepEqual(
      after.spec.initContainers?.map((c) => c.name),
      ['vault-inject-copy', 'early-migrate'],
    );
    assert.deepEqual(after.spec.initContainers?.[0], mutated.spec.initContainers?.[0]);
    assert.deepEqual(after.spec.initContainers?.[1]?.command, [
      '/vault-inject/bin/vault-inject-env',
    ]);
    assert.deepEqual(after.spec.initContainers?.[1]?.args, ['/migrate']);
    assert.deepEqual(after.spec.containers, mutated.spec.containers);
    assert.deepEqual(
      ops.filter((op) => op.path === '/spec/initContainers/0'),
      [{ op: 'move', from: '/spec/initContainers/1', path: '/spec/initContainers/0' }],
      'one move, not a rewrite of both init containers',
    );
  });

  it('an init container after the copy container changes nothing in the order', async () => {
    const mutated = read('command-args/pod-after.json') as unknown as Pod;
    const added = structuredClone(mutated);
    added.spec.initContainers?.push({
      name: 'late-migrate',
      image: 'registry.example/migrate:1',
      command: ['/migrate'],
      env: [{ name: 'DB', value: 'vault:secret/data/db#password' }],
    });
    const res = await postReview(harness(), podReview(added));
    const ops = decodePatch(res.json().response.patch) as fjp.Operation[];
    assert.ok(ops.length > 0);
    for (const op of ops) assert.match(op.path, /^\/spec\/initContainers\/1\//);
  });
});

// A manifest copied from a mutated pod (`kubectl get -o yaml`, then edited) whose container runs
// the init program but whose bundle volume, copy container or mount was dropped: it was admitted
// unchanged and could never start (no /vault-inject in the container). What it lacks is added,
// with a warning; the container's command line and settings stay as they are.
describe('a copied manifest running the init program without its bundle', () => {
  const mutated = read('command-args/pod-after.json') as unknown as Pod;

  async function review(pod: Pod) {
    const res = await postReview(harness(), podReview(pod, { namespace: 'apps' }));
    const { response } = res.json();
    const ops = decodePatch(response.patch) as fjp.Operation[];
    const after = fjp.applyPatch(structuredClone(pod), ops, true, false).newDocument;
    return {
      allowed: response.allowed as boolean,
      message: response.status?.message as string | undefined,
      warnings: (response.warnings ?? []) as string[],
      after,
    };
  }
  const WARNING =
    'container "app" already runs the init program but lacked its bundle volume or mount (a copied manifest?): added';

  it('volume and copy container dropped: both added back, nothing else changes', async () => {
    const copied = structuredClone(mutated);
    delete copied.spec.volumes;
    delete copied.spec.initContainers;
    delete copied.metadata?.annotations;
    const r = await review(copied);
    assert.equal(r.allowed, true, r.message);
    assert.deepEqual(r.warnings, [WARNING]);
    assert.deepEqual(r.after, mutated, 'the pod the webhook would have written');
    const again = await review(r.after);
    assert.deepEqual(again.after, r.after, 're-applying changes nothing');
    assert.deepEqual(again.warnings, []);
  });

  it('the mount dropped too: mounted again', async () => {
    const copied = structuredClone(mutated);
    delete copied.spec.volumes;
    delete copied.spec.containers[0]?.volumeMounts;
    const r = await review(copied);
    assert.equal(r.allowed, true, r.message);
    assert.deepEqual(r.after.spec.containers[0], mutated.spec.containers[0]);
    assert.deepEqual(r.after.spec.volumes, mutated.spec.volumes);
  });

  it('under image delivery (its mount has subPath vault-inject): the image volume comes back', async () => {
    const copied = structuredClone(mutated);
    delete copied.spec.volumes;
    delete copied.spec.initContainers;
    const mount = copied.spec.containers[0]?.volumeMounts?.[0];
    if (mount) mount.subPath = 'vault-inject';
    const r = await review(copied);
    assert.equal(r.allowed, true, r.message);
    assert.deepEqual(r.after.spec.volumes, [
      {
        name: 'vault-inject',
        image: {
          reference: 'ghcr.io/vault-inject/vault-inject-init:0.1.0',
          pullPolicy: 'IfNotPresent',
        },
      },
    ]);
    assert.equal(r.after.spec.initContainers, undefined, 'no copy container for an image volume');
  });

  it('opted out (inject: "false"): left as it is', async () => {
    const copied = structuredClone(mutated);
    delete copied.spec.volumes;
    copied.metadata = { ...copied.metadata, annotations: { 'vault-inject.dev/inject': 'false' } };
    const r = await review(copied);
    assert.deepEqual(r.after, copied);
  });

  it('a complete copy is still held to the policy (its own VAULT_ADDR)', async () => {
    const copied = structuredClone(mutated);
    const env = copied.spec.containers[0]?.env ?? [];
    env.splice(2, 1, { name: 'VAULT_ADDR', value: 'https://evil.example:8200' });
    const r = await review(copied);
    assert.equal(r.allowed, false);
    assert.match(
      r.message ?? '',
      /^container "app", env VAULT_ADDR: "https:\/\/evil\.example:8200" is not an allowed Vault address/,
    );
  });
});
