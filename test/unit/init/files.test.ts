// Secret files in the init program (docs/init-program.md#secret-files): the templates resolved
// with the environment's references, written atomically with their mode, never onto a disk.
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  decodeSecretFiles,
  encodeSecretFiles,
} from '../../../init-binary/src/contract/secret-files.ts';
import { ConfigError, exitCodeOf, failureLine } from '../../../init-binary/src/errors.ts';
import { execHelper } from '../../../init-binary/src/exec-helper.ts';
import { fileReferences, writeSecretFiles } from '../../../init-binary/src/files.ts';
import { createLogger } from '../../../init-binary/src/log.ts';
import { run, type RunDependencies } from '../../../init-binary/src/run.ts';
import type { VaultSession } from '../../../init-binary/src/vault/client.ts';
import { tempFiles } from './files.ts';

const { dir, file } = tempFiles('vault-inject-files-');
const app = file('app.sh', '#!/bin/sh\nexit 0\n', 0o755);
const log = createLogger({ level: 'error', json: true, write: () => undefined });
const CANARY = 'canary-files-7e2a';

function session(reads: string[]): VaultSession {
  const secrets: Record<string, Record<string, string>> = {
    'secret/app': { user: 'alice', pass: CANARY },
    'secret/db': { host: 'db.internal' },
  };
  return {
    login: { token: 'hvs.fake', ttlSeconds: 0, renewable: false, identity: 'a fake login' },
    http: {} as VaultSession['http'],
    api: {
      read: async (path) => (reads.push(path), secrets[path] ? { data: secrets[path] } : undefined),
      write: async () => ({ data: {} }),
      decrypt: async () => [],
    },
  };
}

function deps(reads: string[], lines: string[] = []) {
  const execs: { argv: readonly string[]; env: Record<string, string> }[] = [];
  const d: RunDependencies = {
    openSession: async () => session(reads),
    renewToken: async () => 0,
    renewLease: async () => 0,
    execve: ((_f: string, argv: readonly string[], env: Record<string, string>) => {
      execs.push({ argv, env });
      throw new Error('exec');
    }) as RunDependencies['execve'],
    canExecve: () => true,
    logWrite: (l) => lines.push(l),
    // The temporary folder is on a disk here; the refusal has its own test below.
    isMemory: () => true,
  };
  return { d, execs };
}

let n = 0;
function filesEnv(files: Record<string, string>, mode = 0o400) {
  const out = join(dir, `secrets-${n++}`);
  mkdirSync(out);
  return {
    out,
    env: {
      PATH: `${dir}:/usr/bin:/bin`,
      VAULT_ADDR: 'http://127.0.0.1:1',
      VAULT_AUTH_METHOD: 'token',
      VAULT_TOKEN: 't',
      VAULT_INJECT_SECRET_FILES: encodeSecretFiles({ dir: out, mode, files }),
    },
  };
}

describe('secret files: contract', () => {
  it('round-trips the spec and refuses what the webhook never writes', () => {
    const spec = { dir: '/vault/secrets', mode: 0o440, files: { 'a.env': 'x ${vault:s#k}' } };
    assert.deepEqual(decodeSecretFiles(encodeSecretFiles(spec)), spec);
    for (const [raw, problem] of [
      ['nope', /is not JSON/],
      ['{"dir":"rel","mode":"400","files":{}}', /no usable "dir"/],
      ['{"dir":"/d","mode":"644","files":{}}', /"mode" other than 400 or 440/],
      ['{"dir":"/d","mode":"400","files":{"../x":"t"}}', /names a file that may hold only/],
      ['{"dir":"/d","mode":"400","files":{"x":1}}', /template for x that is no text/],
    ] as const) {
      assert.throws(() => decodeSecretFiles(raw), problem);
    }
    const proto = decodeSecretFiles('{"dir":"/d","mode":"400","files":{"__proto__":"t"}}');
    assert.deepEqual(Object.entries(proto.files), [['__proto__', 't']]);
  });

  it('names the annotation of a malformed template (78)', () => {
    const spec = { dir: '/d', mode: 0o400, files: { 'db.conf': '${vault:secret/db}' } };
    assert.throws(
      () => fileReferences(spec, []),
      (err: unknown) =>
        err instanceof ConfigError &&
        exitCodeOf(err) === 78 &&
        /^vault-inject\.dev\/secret-file-db\.conf: .*#KEY/.test(err.message),
    );
  });
});

describe('secret files: run', () => {
  it('renders each file with one read per path, mode 0400, and keeps the app environment clean', async () => {
    const reads: string[] = [];
    const { d, execs } = deps(reads);
    const { out, env } = filesEnv({
      'app.env': 'USER=${vault:secret/app#user}\nPASS=${vault:secret/app#pass}\n',
      'db.host': 'vault:secret/db#host',
      'plain.txt': 'no references here',
    });
    await assert.rejects(run(['app.sh'], { ...env, X: 'vault:secret/app#user' }, d), /exec/);
    assert.deepEqual(reads.sort(), ['secret/app', 'secret/db']);
    assert.equal(readFileSync(join(out, 'app.env'), 'utf8'), `USER=alice\nPASS=${CANARY}\n`);
    assert.equal(readFileSync(join(out, 'db.host'), 'utf8'), 'db.internal');
    assert.equal(readFileSync(join(out, 'plain.txt'), 'utf8'), 'no references here');
    for (const f of ['app.env', 'db.host', 'plain.txt']) {
      assert.equal(statSync(join(out, f)).mode & 0o777, 0o400, f);
    }
    assert.deepEqual(
      readdirSync(out).sort(),
      ['app.env', 'db.host', 'plain.txt'],
      'no temp file left',
    );
    assert.deepEqual(execs[0]?.env, { PATH: env.PATH, X: 'alice' });
    assert.doesNotMatch(JSON.stringify(execs[0]?.argv), new RegExp(CANARY));
  });

  it('replaces a file left by an earlier start, with 0440 when asked', async () => {
    const { d } = deps([]);
    const { out, env } = filesEnv({ 'a.txt': 'vault:secret/db#host' }, 0o440);
    writeFileSync(join(out, 'a.txt'), 'old', { mode: 0o400 });
    await assert.rejects(run(['app.sh'], env, d), /exec/);
    assert.equal(readFileSync(join(out, 'a.txt'), 'utf8'), 'db.internal');
    assert.equal(statSync(join(out, 'a.txt')).mode & 0o777, 0o440);
  });

  it('fails with 78 naming the annotation and the path for a missing secret, writing nothing', async () => {
    const lines: string[] = [];
    const { d, execs } = deps([], lines);
    const { out, env } = filesEnv({ ok: 'vault:secret/db#host', gone: 'x=${vault:secret/gone#k}' });
    const err = await run(['app.sh'], env, d).then(
      () => assert.fail('ran'),
      (e: unknown) => e,
    );
    assert.equal(exitCodeOf(err), 78);
    assert.equal(
      failureLine(err).includes(
        'vault-inject.dev/secret-file-gone: secret vault:secret/gone#k not found',
      ),
      true,
      failureLine(err),
    );
    assert.deepEqual(readdirSync(out), [], 'no file is written before every one rendered');
    assert.equal(execs.length, 0);
  });

  it('leaves out a file whose secret is missing under ignore-missing, with a warning', async () => {
    const lines: string[] = [];
    const { d } = deps([], lines);
    const { out, env } = filesEnv({ ok: 'vault:secret/db#host', gone: 'vault:secret/gone#k' });
    await assert.rejects(
      run(['app.sh'], { ...env, VAULT_IGNORE_MISSING_SECRETS: 'true' }, d),
      /exec/,
    );
    assert.deepEqual(readdirSync(out), ['ok']);
    assert.ok(
      lines.some(
        (l) => l.includes('vault-inject.dev/secret-file-gone') && l.includes('ignore-missing'),
      ),
      lines.join('\n'),
    );
  });

  it('refuses to write secrets onto a disk', () => {
    const spec = { dir, mode: 0o400, files: { a: 'x' } };
    assert.throws(
      () => writeSecretFiles(spec, new Map([['a', CANARY]]), { log, isMemory: () => false }),
      /is not a memory filesystem \(tmpfs\); secrets are never written to disk/,
    );
    assert.ok(!readdirSync(dir).includes('a'));
  });

  it('names the file and the errno, never the content, when it cannot write', () => {
    const spec = { dir: join(dir, 'absent'), mode: 0o400, files: { a: 'x' } };
    assert.throws(
      () => writeSecretFiles(spec, new Map([['a', CANARY]]), { log, isMemory: () => true }),
      (err: unknown) =>
        err instanceof ConfigError &&
        /secret-file-a: cannot write .*absent\/a \(ENOENT\)/.test(err.message) &&
        !err.message.includes(CANARY),
    );
  });

  it('exec mode: the environment only, no file written, never a daemon', async () => {
    const reads: string[] = [];
    const { d, execs } = deps(reads);
    const { out, env } = filesEnv({ 'a.txt': 'vault:secret/db#host' });
    await assert.rejects(
      run(
        ['--', 'app.sh'],
        { ...env, VAULT_ENV_DAEMON: 'true', X: 'vault:secret/app#user' },
        d,
        'exec',
      ),
      /exec/,
    );
    assert.deepEqual(readdirSync(out), []);
    assert.deepEqual(reads, ['secret/app']);
    assert.deepEqual(execs[0]?.env, { PATH: env.PATH, X: 'alice' });
  });
});

describe('exec helper arguments', () => {
  const none = () => false;
  it('reads exec -- CMD, exec CMD and exec --help; leaves a command named exec alone', () => {
    assert.deepEqual(execHelper(['exec', '--', 'env'], none), { argv: ['--', 'env'] });
    assert.deepEqual(execHelper(['exec', 'env', '-0'], none), { argv: ['env', '-0'] });
    assert.deepEqual(execHelper(['exec', '--help'], none), { help: true });
    assert.equal(
      execHelper(['exec', '--', 'env'], (n) => n === 'exec'),
      undefined,
    );
    assert.equal(execHelper(['env'], none), undefined);
    assert.equal(app.endsWith('app.sh'), true);
  });
});
