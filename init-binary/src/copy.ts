/**
 * `vault-inject-env --copy-bundle DIR`: the copy init container's whole job (the init image has no
 * shell and no cp). Copies the bundle tree this program runs from into DIR, keeping file modes
 * and symbolic links, so the app containers can run it from the shared volume.
 */
import { join } from 'node:path';

// node:fs through getBuiltinModule, as everywhere in the program (see command.ts).
const {
  chmodSync,
  copyFileSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readlinkSync,
  rmSync,
  symlinkSync,
} = process.getBuiltinModule('node:fs');

/**
 * Copies the tree under `source` into `target` (created if needed); returns the entries copied.
 * The mode of `target` itself is left alone: a volume root is usually not ours to chmod.
 */
export function copyTree(source: string, target: string, top = true): number {
  mkdirSync(target, { recursive: true });
  let copied = 0;
  for (const entry of readdirSync(source, { withFileTypes: true })) {
    const from = join(source, entry.name);
    const to = join(target, entry.name);
    if (entry.isDirectory()) {
      copied += copyTree(from, to, false);
    } else if (entry.isSymbolicLink()) {
      rmSync(to, { force: true }); // a restarted copy container finds the last copy
      symlinkSync(readlinkSync(from), to);
      copied++;
    } else if (entry.isFile()) {
      copyFileSync(from, to);
      chmodSync(to, lstatSync(from).mode & 0o7777);
      copied++;
    }
  }
  if (!top) chmodSync(target, lstatSync(source).mode & 0o7777);
  return copied;
}
