// Secret files rendered by the BUILT bundle against a real OpenBao dev server, into a directory on
// tmpfs (/dev/shm, as the pod's memory emptyDir): content, mode, atomic replacement, the exit code
// of a missing secret, the refusal of a disk, and the exec helper (docs/init-program.md).
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { after, describe } from 'node:test';
import { join } from 'node:path';
import { encodeSecretFiles } from '../../../init-binary/src/contract/secret-files.ts';
import { openBaoSuite } from './harness.ts';

const CANARY = `canary-${process.pid}-f11e`;
const shm = mkdtempSync('/dev/shm/vault-inject-files-');
after(() => rmSync(shm, { recursive: true, force: true }));

const s = openBaoSuite({
  canary: CANARY,
  // Nothing a run prints (the app prints its environment) may hold a file's secret.
  checkRun: (r) => assert.doesNotMatch(r.stdout, new RegExp(CANARY), 'a secret reached stdout'),
  setUp: async (bao) => {
    await bao.api('POST', 'secret/data/app', { data: { user: 'alice', password: CANARY } });
    await bao.api('POST', 'secret/data/app', { data: { user: 'alice', password: `${CANARY}-2` } });
    await bao.api('POST', 'secret/data/tls', { data: { key: `-----KEY ${CANARY}-----\n` } });
  },
});
const { it, go } = s;

/** The spec of `spec` in a new directory on tmpfs (or `dir`), as the webhook encodes it. */
function files(spec: Record<string, string>, mode = 0o400, dir = mkdtempSync(join(shm, 'd-'))) {
  return { dir, value: encodeSecretFiles({ dir, mode, files: spec }) };
}

describe('secret files against OpenBao', () => {
  it('renders templates, versions and whole references into tmpfs, mode 0400, before exec', async () => {
    const f = files({
      'app.env': 'USER=${vault:secret/app#user}\nPASSWORD=${vault:secret/app#password}\n',
      'v1.txt': '${vault:secret/app#password#1}',
      'tls.key': 'vault:secret/tls#key',
      'both.txt': '${vault:secret/app#${.user | upper}:${.password}}',
    });
    const r = await go(
      s.jwtEnv({ VAULT_INJECT_SECRET_FILES: f.value, USER: 'vault:secret/app#user' }),
      ['/bin/sh', '-c', `echo "PID=$$"; ls -A ${f.dir} | tr '\\n' ' '; echo; env`],
    );
    assert.equal(r.code, 0, r.stderr);
    const read = (name: string) => readFileSync(join(f.dir, name), 'utf8');
    assert.equal(read('app.env'), `USER=alice\nPASSWORD=${CANARY}-2\n`);
    assert.equal(read('v1.txt'), CANARY);
    assert.equal(read('tls.key'), `-----KEY ${CANARY}-----\n`);
    assert.equal(read('both.txt'), `ALICE:${CANARY}-2`);
    for (const name of readdirSync(f.dir)) {
      const st = statSync(join(f.dir, name));
      assert.equal(st.mode & 0o777, 0o400, name);
      assert.equal(st.uid, process.getuid?.());
    }
    assert.match(
      r.stdout,
      /^app\.env both\.txt tls\.key v1\.txt $/m,
      'the app saw every file, no temp',
    );
    assert.equal(r.env['USER'], 'alice');
    assert.equal(
      r.env['VAULT_INJECT_SECRET_FILES'],
      undefined,
      'the setting never reaches the app',
    );
  });

  it('replaces an earlier file by rename (a new inode), 0440 when asked', async () => {
    const f = files({ 'app.env': 'vault:secret/app#user' }, 0o440);
    writeFileSync(join(f.dir, 'app.env'), 'stale', { mode: 0o400 });
    const before = statSync(join(f.dir, 'app.env')).ino;
    const r = await go(s.jwtEnv({ VAULT_INJECT_SECRET_FILES: f.value }));
    assert.equal(r.code, 0, r.stderr);
    const st = statSync(join(f.dir, 'app.env'));
    assert.notEqual(st.ino, before, 'written beside and renamed, never rewritten in place');
    assert.equal(st.mode & 0o777, 0o440);
    assert.equal(readFileSync(join(f.dir, 'app.env'), 'utf8'), 'alice');
    assert.deepEqual(readdirSync(f.dir), ['app.env']);
  });

  it('fails with 78 and one line naming the annotation and path for a missing secret; no file', async () => {
    const f = files({ ok: 'vault:secret/app#user', 'db.conf': 'pw=${vault:secret/nope#password}' });
    const r = await go(s.jwtEnv({ VAULT_INJECT_SECRET_FILES: f.value }));
    assert.equal(r.code, 78);
    const lines = r.stderr.trim().split('\n');
    assert.equal(
      lines.at(-1),
      'vault-inject-env: vault-inject.dev/secret-file-db.conf: secret vault:secret/nope#password not found',
    );
    assert.deepEqual(readdirSync(f.dir), []);
    assert.doesNotMatch(r.stdout, /PID=/, 'the app never ran');
  });

  it('refuses a directory on disk (78) and writes nothing there', async () => {
    const f = files({ a: 'vault:secret/app#password' }, 0o400, s.tmp);
    const r = await go(s.jwtEnv({ VAULT_INJECT_SECRET_FILES: f.value }));
    assert.equal(r.code, 78);
    assert.match(
      r.stderr,
      /is not a memory filesystem \(tmpfs\); secrets are never written to disk/,
    );
    assert.ok(!readdirSync(s.tmp).includes('a'));
  });

  it('exec helper: the app environment, no file rewritten', async () => {
    const f = files({ 'a.txt': 'vault:secret/app#user' });
    const r = await go(
      s.jwtEnv({ VAULT_INJECT_SECRET_FILES: f.value, USER: 'vault:secret/app#user' }),
      ['exec', '--', '/bin/sh', '-c', 'echo "PID=$$"; env'],
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.env['USER'], 'alice');
    assert.equal(r.env['VAULT_ADDR'], undefined);
    assert.deepEqual(readdirSync(f.dir), []);
    const help = await go({}, ['exec', '--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /^Usage: vault-inject-env exec \[--\] CMD/);
  });
});
