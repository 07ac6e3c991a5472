// spawnApp (init-binary/src/exec.ts), the spawn mode of daemon mode and of a Node without
// process.execve, on real files: a start error gives the code a shell gives, as exec mode does.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { checkExecutable } from '../../../init-binary/src/command.ts';
import { exitCodeOf } from '../../../init-binary/src/errors.ts';
import { spawnApp, startFailureExitCode } from '../../../init-binary/src/exec.ts';
import type { Logger } from '../../../init-binary/src/log.ts';
import { tempFiles } from './files.ts';

const { dir, file } = tempFiles('vault-inject-exec-');

function logger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const add = (level: string) => (m: string) => void lines.push(`${level}: ${m}`);
  return { lines, debug: add('debug'), info: add('info'), warn: add('warn'), error: add('error') };
}

const noexec = file('noexec.sh', '#!/bin/sh\nexit 0\n', 0o644);
const exit7 = file('exit7.sh', '#!/bin/sh\nexit 7\n', 0o755);

describe('spawnApp', () => {
  const table: [string, string, number, string][] = [
    ['a file without execute permission (EACCES)', noexec, 126, 'EACCES'],
    ['a file that does not exist (ENOENT)', join(dir, 'missing'), 127, 'ENOENT'],
    ['a directory (EACCES)', dir, 126, 'EACCES'],
  ];
  for (const [what, path, code, errno] of table) {
    it(`gives ${code} for ${what}, naming the command, and stops forwarding signals`, async () => {
      const before = process.listenerCount('SIGTERM');
      const log = logger();
      const app = spawnApp(path, ['app'], { PATH: '/usr/bin:/bin' }, log);
      assert.equal(await app.exited, code);
      assert.deepEqual(log.lines, [`error: command "app" could not be started (${errno})`]);
      assert.equal(process.listenerCount('SIGTERM'), before);
    });
  }

  it("passes a started app's exit code through", async () => {
    const log = logger();
    assert.equal(await spawnApp(exit7, [exit7], {}, log).exited, 7);
    assert.deepEqual(log.lines, []);
  });

  it('exec mode gives 126 for the same file, before any exec', () => {
    assert.throws(
      () => checkExecutable(noexec, 'noexec.sh'),
      (err: unknown) => exitCodeOf(err) === 126,
    );
  });
});

describe('startFailureExitCode', () => {
  it('126 for a file that may not be executed, 127 otherwise', () => {
    assert.deepEqual(
      ['EACCES', 'EPERM', 'ENOEXEC', 'ENOENT', 'ENOTDIR', 'EAGAIN'].map(startFailureExitCode),
      [126, 126, 126, 127, 127, 127],
    );
  });
});
