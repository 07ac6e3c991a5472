/**
 * The JSONPatch of a mutation: the diff of the original pod and the mutated clone
 * (fast-json-patch `compare`). One refinement keeps the patch small and exact: when the copy init
 * container is put in front of existing init containers, that is one `add` (or, when it is moved
 * in front of an init container that needs it, one `move`) to index 0 instead of a field-by-field
 * rewrite of every init container behind it; and a container's new `command` and
 * `args` are each written whole, so a reviewer reads the command line as it will run.
 */
import fjp, { type Operation } from 'fast-json-patch';
import { COPY_CONTAINER_NAME } from '../../../init-binary/src/contract/index.ts';
import type { Pod } from '../mutation/types.ts';

const { compare } = fjp;

const COMMAND_LINE = /^(\/spec\/(?:containers|initContainers)\/\d+\/(?:command|args))(?:\/.*)?$/;

/** Replaces element-wise edits of `command`/`args` by one operation per array. */
function wholeCommandLines(ops: Operation[], original: Pod, mutated: Pod): Operation[] {
  const out: Operation[] = [];
  const done = new Set<string>();
  for (const op of ops) {
    const field = COMMAND_LINE.exec(op.path)?.[1];
    if (field === undefined) {
      out.push(op);
    } else if (!done.has(field)) {
      done.add(field);
      const value = fjp.getValueByPointer(mutated, field) as unknown;
      const had = fjp.getValueByPointer(original, field) !== undefined;
      out.push(
        value === undefined
          ? { op: 'remove', path: field }
          : { op: had ? 'replace' : 'add', path: field, value },
      );
    }
  }
  return out;
}

export function podPatch(original: Pod, mutated: Pod): Operation[] {
  const before = original.spec.initContainers ?? [];
  const copy = mutated.spec.initContainers?.[0];
  const at = before.findIndex((c) => c.name === COPY_CONTAINER_NAME);
  if (before.length === 0 || copy?.name !== COPY_CONTAINER_NAME || at === 0) {
    return wholeCommandLines(compare(original, mutated), original, mutated);
  }
  // The copy container was put in front (added, or moved before an init container that needs
  // it): one operation, then the diff against the original with that done, so indices line up.
  const shifted = structuredClone(original);
  const first: Operation =
    at === -1
      ? { op: 'add', path: '/spec/initContainers/0', value: copy }
      : { op: 'move', from: `/spec/initContainers/${at}`, path: '/spec/initContainers/0' };
  const rest = before.filter((_, i) => i !== at);
  const head = at === -1 ? copy : (before[at] ?? copy);
  shifted.spec.initContainers = structuredClone([head, ...rest]);
  return [first, ...wholeCommandLines(compare(shifted, mutated), shifted, mutated)];
}

export function encodePatch(ops: readonly Operation[]): string {
  return Buffer.from(JSON.stringify(ops)).toString('base64');
}
