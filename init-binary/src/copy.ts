/**
 * `vault-inject-env --copy-bundle DIR`: the copy init container's whole job (the init image has no
 * shell and no cp). Copies the bundle tree this program runs from into DIR, keeping file modes
 * and symbolic links, so the app containers can run it from the shared volume.
 */
import { chmod, copyFile, lstat, mkdir, readdir, readlink, symlink } from 'node:fs/promises';
import { join } from 'node:path';

export async function copyTree(source: string, target: string): Promise<number> {
  const st = await lstat(source);
  await mkdir(target, { recursive: true });
  let files = 0;
  for (const entry of await readdir(source, { withFileTypes: true })) {
    const from = join(source, entry.name);
    const to = join(target, entry.name);
    if (entry.isDirectory()) {
      files += await copyTree(from, to);
    } else if (entry.isSymbolicLink()) {
      await symlink(await readlink(from), to);
      files++;
    } else if (entry.isFile()) {
      await copyFile(from, to);
      await chmod(to, (await lstat(from)).mode & 0o7777);
      files++;
    }
  }
  await chmod(target, st.mode & 0o7777);
  return files;
}
