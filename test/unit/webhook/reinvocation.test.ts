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
