/** A temporary folder for one test file, removed after it, and files with a mode in it. */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';

export function tempFiles(prefix: string): {
  readonly dir: string;
  file(name: string, content: string, mode: number): string;
} {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  after(() => rmSync(dir, { recursive: true, force: true }));
  return {
    dir,
    file: (name, content, mode) => {
      const p = join(dir, name);
      writeFileSync(p, content);
      chmodSync(p, mode);
      return p;
    },
  };
}
