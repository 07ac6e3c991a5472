import assert from 'node:assert/strict';
import {
  chmodSync,
  mkdirSync,
  readdirSync,
  statSync,
  symlinkSync,
  writeFileSync,
  readlinkSync,
  readFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { lookPath } from '../../../init-binary/src/command.ts';
import { ExitCode } from '../../../init-binary/src/contract/names.ts';
import { copyTree } from '../../../init-binary/src/copy.ts';
import {
  CommandNotExecutableError,
  CommandNotFoundError,
  DeniedError,
  exitCodeOf,
  failureLine,
} from '../../../init-binary/src/errors.ts';
import { run, type RunDependencies } from '../../../init-binary/src/run.ts';
import type { VaultSession } from '../../../init-binary/src/vault/client.ts';
import { tempFiles } from './files.ts';

const { dir, file } = tempFiles('vault-inject-run-');

const script = file('app.sh', '#!/bin/sh\nexit 0\n', 0o755);
file('noexec.sh', '#!/bin/sh\n', 0o644);
file('badinterp.sh', '#!/nonexistent/sh\n', 0o755);
file('garbage', 'hello\n', 0o755);
mkdirSync(join(dir, 'adir'));

describe('lookPath', () => {
  it('finds a command in PATH, and a path as is', () => {
    assert.equal(lookPath('app.sh', `/nonexistent:${dir}`), script);
    assert.equal(lookPath(script, undefined), script);
  });
  const table: [string, string | undefined, new (...a: never[]) => Error, number, RegExp][] = [
    ['nope', dir, CommandNotFoundError, 127, /command "nope" not found in PATH/],
    [join(dir, 'nope'), undefined, CommandNotFoundError, 127, /not found/],
    ['noexec.sh', dir, CommandNotExecutableError, 126, /is not executable/],
    [join(dir, 'adir'), undefined, CommandNotExecutableError, 126, /not a regular file/],
    [
      'badinterp.sh',
      dir,
      CommandNotFoundError,
      127,
      /needs \/nonexistent\/sh, which is not in this image/,
    ],
    ['garbage', dir, CommandNotExecutableError, 126, /neither a binary nor a script/],
  ];
  for (const [command, path, type, code, message] of table) {
    it(`${command} → ${code}`, () => {
      assert.throws(
        () => lookPath(command, path),
        (err: unknown) => {
          assert.ok(err instanceof type);
          assert.equal(exitCodeOf(err), code);
          assert.match(err.message, message);
          return true;
        },
      );
    });
  }
  it('checks the ELF loader of a dynamic binary', () => {
    assert.equal(lookPath('/bin/sh', undefined), '/bin/sh');
  });
});

function deps(overrides: Partial<RunDependencies> = {}): RunDependencies & { execs: unknown[][] } {
  const execs: unknown[][] = [];
  return {
    execs,
    openSession: async (): Promise<VaultSession> => {
      throw new Error('no Vault in this test');
    },
    renewToken: async () => 0,
    renewLease: async () => 0,
    execve: ((f: string, argv: readonly string[], env: Record<string, string>) => {
      execs.push([f, argv, env]);
      throw new Error('exec');
    }) as RunDependencies['execve'],
    canExecve: () => true,
    logWrite: () => undefined,
    ...overrides,
  };
}

function fakeSession(data: Record<string, string>): VaultSession {
  return {
    login: { token: 'hvs.fake', ttlSeconds: 0, renewable: false, identity: 'a fake login' },
    http: {} as VaultSession['http'],
    api: {
      read: async (path) => (path === 'secret/app' ? { data } : undefined),
      write: async () => ({ data: {} }),
      decrypt: async () => [],
    },
  };
}

describe('run', () => {
  const env = {
    PATH: `${dir}:/usr/bin:/bin`,
    VAULT_ADDR: 'http://127.0.0.1:1',
    VAULT_AUTH_METHOD: 'token',
    VAULT_TOKEN: 't',
  };

  it('execs the command with the resolved, sanitised environment and argv', async () => {
    const d = deps({ openSession: async () => fakeSession({ k: 'v' }) });
    await assert.rejects(
      run(['--', 'app.sh', 'a', 'b'], { ...env, X: 'vault:secret/app#k', Y: 'y' }, d),
      /exec/,
    );
    assert.deepEqual(d.execs, [[script, ['app.sh', 'a', 'b'], { PATH: env.PATH, X: 'v', Y: 'y' }]]);
  });

  it('warns in one line, names only, about Bank-Vaults settings it does not act on', async () => {
    const lines: string[] = [];
    const d = deps({ logWrite: (l) => lines.push(l) });
    const canary = 'canary-revoke-9d2';
    await assert.rejects(
      run(
        ['app.sh'],
        {
          PATH: dir,
          VAULT_JSON_LOG: 'false',
          VAULT_REVOKE_TOKEN: canary,
          VAULT_ENV_LOG_SERVER: canary,
        },
        d,
      ),
      /exec/,
    );
    assert.deepEqual(lines, [
      "vault-inject-env: warn: Bank-Vaults settings this program does not act on, removed from the app's environment: VAULT_REVOKE_TOKEN, VAULT_ENV_LOG_SERVER\n",
    ]);
    assert.deepEqual(d.execs[0]?.[2], { PATH: dir });
  });

  it('does not contact Vault without references', async () => {
    const d = deps();
    await assert.rejects(run(['app.sh'], { PATH: dir, Y: 'y' }, d), /exec/);
    assert.equal(d.execs.length, 1);
  });

  it('checks the command before contacting Vault (127)', async () => {
    let opened = false;
    const d = deps({ openSession: async () => ((opened = true), fakeSession({})) });
    await assert.rejects(
      run(['nope'], { ...env, X: 'vault:secret/app#k' }, d),
      (err: unknown) => exitCodeOf(err) === 127,
    );
    assert.equal(opened, false);
  });

  it('bounds the whole Vault phase by VAULT_CLIENT_TIMEOUT (69)', async () => {
    // A session that never opens: only the deadline can end the run (else the test times out).
    const d = deps({ openSession: () => new Promise(() => undefined) });
    await assert.rejects(
      run(['app.sh'], { ...env, VAULT_CLIENT_TIMEOUT: '200ms', X: 'vault:secret/app#k' }, d),
      (err: unknown) =>
        exitCodeOf(err) === ExitCode.UNAVAILABLE && /did not answer within 0.2s/.test(String(err)),
    );
  });

  it('maps a denial to 77 with one line naming the cause', async () => {
    const d = deps({
      openSession: async () => {
        throw new DeniedError(
          'Vault denied the login at auth/jwt with role "x" (400 invalid role)',
        );
      },
    });
    const err = await run(['app.sh'], { ...env, X: 'vault:secret/app#k' }, d).catch(
      (e: unknown) => e,
    );
    assert.equal(exitCodeOf(err), 77);
    assert.equal(
      failureLine(err),
      'vault-inject-env: Vault denied the login at auth/jwt with role "x" (400 invalid role)',
    );
  });

  it('maps an unknown error to 70 without its message', () => {
    const err = new SyntaxError('Unexpected token s3cret in JSON');
    assert.equal(exitCodeOf(err), 70);
    assert.doesNotMatch(failureLine(err), /s3cret/);
  });

  it('spawns when execve is unavailable and passes the exit code through', async () => {
    const exit7 = file('exit7.sh', '#!/bin/sh\nexit 7\n', 0o755);
    assert.equal(
      await run([exit7], { PATH: '/usr/bin:/bin' }, deps({ canExecve: () => false })),
      7,
    );
  });

  it('spawns with the same sanitised environment as exec', async () => {
    const out = join(dir, 'spawned-env');
    const printEnv = file('print-env.sh', `#!/bin/sh\nenv > ${out}\n`, 0o755);
    const code = await run(
      [printEnv],
      {
        ...env,
        VAULT_ROLE: 'app',
        VAULT_LOG_LEVEL: 'warn',
        VAULT_ENV_PASSTHROUGH: 'VAULT_ADDR',
        X: 'vault:secret/app#k',
        Y: 'y',
      },
      deps({ canExecve: () => false, openSession: async () => fakeSession({ k: 'v' }) }),
    );
    assert.equal(code, 0);
    const lines = readFileSync(out, 'utf8').split('\n');
    assert.ok(lines.includes('X=v'), lines.join(' '));
    assert.ok(lines.includes('Y=y'));
    assert.deepEqual(
      lines.filter((l) => l.startsWith('VAULT_')),
      [`VAULT_ADDR=${env.VAULT_ADDR}`],
      'only the passthrough setting',
    );
  });

  it('reports death by signal N as 128+N in spawn mode', async () => {
    const killed = file('killed.sh', '#!/bin/sh\nkill -TERM $$\n', 0o755);
    assert.equal(
      await run([killed], { PATH: '/usr/bin:/bin' }, deps({ canExecve: () => false })),
      143,
    );
  });

  // Linux refuses execve (E2BIG, EINVAL) for one NAME=value longer than MAX_ARG_STRLEN (128 KiB)
  // or holding a NUL byte; Node then aborts (134) with a native stack trace, and the app never runs.
  const oneVariable = 128 * 1024;
  const table: [string, string, RegExp][] = [
    [
      'too large for one variable',
      'x'.repeat(oneVariable - 'X='.length),
      /^X: its value is 131070 bytes; Linux passes at most 131069 bytes in one variable of this name \(MAX_ARG_STRLEN: 128 KiB for NAME=value\)$/,
    ],
    [
      'holding a NUL byte',
      'se\0cret',
      /^X: its value holds a NUL byte, which an environment variable cannot carry$/,
    ],
  ];
  for (const [what, value, message] of table) {
    for (const spawned of [false, true]) {
      it(`fails with 78 naming the variable for a value ${what} (${spawned ? 'spawn' : 'exec'})`, async () => {
        const d = deps({
          canExecve: () => !spawned,
          openSession: async () => fakeSession({ k: value }),
        });
        const err = await run(['app.sh'], { ...env, X: 'vault:secret/app#k' }, d).catch(
          (e: unknown) => e,
        );
        assert.equal(exitCodeOf(err), 78, String(err));
        assert.match((err as Error).message, message);
        assert.doesNotMatch(failureLine(err), /xxxx|cret/);
        assert.equal(d.execs.length, 0);
      });
    }
  }

  it('execs a value exactly as large as one variable may be', async () => {
    const value = 'x'.repeat(oneVariable - 'X='.length - 1);
    const d = deps({ openSession: async () => fakeSession({ k: value }) });
    await assert.rejects(run(['app.sh'], { ...env, X: 'vault:secret/app#k' }, d), /exec/);
    assert.equal((d.execs[0]?.[2] as Record<string, string>)['X'], value);
  });

  // Linux also bounds everything execve copies (file name, argv, env, and a pointer for each) to
  // a quarter of the stack size limit, at most 6 MiB, at least 128 KiB.
  it('fails with 78 naming the largest variable when the whole environment is too large', async () => {
    const big = 'x'.repeat(100 * 1024);
    const d = deps({
      stackLimitBytes: () => 1024 * 1024, // a 256 KiB budget
      openSession: async () => ({
        ...fakeSession({}),
        api: {
          ...fakeSession({}).api,
          read: async () => ({ data: { A: big, B: big, C: `${big}x` } }),
        },
      }),
    });
    const err = await run(['app.sh'], { ...env, VAULT_ENV_FROM_PATH: 'secret/app' }, d).catch(
      (e: unknown) => e,
    );
    assert.equal(exitCodeOf(err), 78, String(err));
    assert.match(
      (err as Error).message,
      /^the app's environment and arguments take \d+ bytes; Linux passes at most 262144 to a program \(a quarter of the stack size limit\); the largest variable is C \(102401 bytes\)$/,
    );
    assert.equal(d.execs.length, 0);
  });

  it('execs an environment that fits, and one whose limit it cannot read', async () => {
    const big = 'x'.repeat(100 * 1024);
    for (const stackLimitBytes of [() => 8 * 1024 * 1024, () => undefined]) {
      const d = deps({
        stackLimitBytes,
        openSession: async () => fakeSession({ k: big }),
      });
      await assert.rejects(
        run(
          ['app.sh'],
          { ...env, A: 'vault:secret/app#k', B: 'vault:secret/app#k', C: 'vault:secret/app#k' },
          d,
        ),
        /exec/,
      );
      assert.equal(d.execs.length, 1);
    }
  });

  it('keeps a client timeout longer than a timer can wait from expiring at once', async () => {
    // Node fires a timer of more than 2^31-1 ms after 1 ms: the deadline must not be spent yet.
    const d = deps({
      openSession: async (_config, signal) => {
        await new Promise((r) => setTimeout(r, 20));
        if (signal.aborted) throw new Error('the deadline expired at once');
        return fakeSession({ k: 'v' });
      },
    });
    await assert.rejects(
      run(['app.sh'], { ...env, VAULT_CLIENT_TIMEOUT: '600h', X: 'vault:secret/app#k' }, d),
      /exec/,
    );
  });

  it('fails with 78 when there is no command', async () => {
    await assert.rejects(run([], {}, deps()), (err: unknown) => exitCodeOf(err) === 78);
  });
});

describe('copyTree (--copy-bundle)', () => {
  it('copies the tree with modes and links', () => {
    const src = join(dir, 'bundle');
    mkdirSync(join(src, 'bin'), { recursive: true });
    writeFileSync(join(src, 'bin', 'prog'), 'x');
    chmodSync(join(src, 'bin', 'prog'), 0o755);
    writeFileSync(join(src, 'data'), 'y');
    chmodSync(join(src, 'data'), 0o644);
    symlinkSync('data', join(src, 'link'));
    const dst = join(dir, 'volume');
    mkdirSync(dst);
    assert.equal(copyTree(src, dst), 3);
    assert.deepEqual(readdirSync(dst).sort(), ['bin', 'data', 'link']);
    assert.equal(statSync(join(dst, 'bin', 'prog')).mode & 0o777, 0o755);
    assert.equal(statSync(join(dst, 'data')).mode & 0o777, 0o644);
    assert.equal(readlinkSync(join(dst, 'link')), 'data');
  });
});
