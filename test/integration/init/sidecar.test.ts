// Sidecar mode (`vault-inject-env --sidecar`, docs/init-program.md#sidecar-mode) with the BUILT
// bundle against a real OpenBao dev server on loopback, logging in with a service-account-like JWT:
// it renders the files into two containers' directories (tmpfs, as their memory emptyDirs), writes
// the ready marker `--sidecar-ready` checks, rewrites both files after a KV write within the
// interval, and exits 0 on SIGTERM. Secrets never reach stdout or stderr.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe } from 'node:test';
import { encodeSecretFiles } from '../../../init-binary/src/contract/secret-files.ts';
import { startBundle } from './bundle.ts';
import { openBaoSuite } from './harness.ts';

const CANARY = `canary-${process.pid}-s1d3car`;
const shm = mkdtempSync('/dev/shm/vault-inject-sidecar-');
after(() => rmSync(shm, { recursive: true, force: true }));

const s = openBaoSuite({
  canary: CANARY,
  timeoutMs: 60_000,
  checkRun: (r) => assert.doesNotMatch(r.stdout, new RegExp(CANARY), 'a secret reached stdout'),
  setUp: async (bao) => {
    await bao.api('POST', 'secret/data/side', { data: { password: `${CANARY}-1` } });
  },
});
const { it } = s;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('sidecar mode against OpenBao', () => {
  it('renders for two containers, is ready, refreshes after a write, exits 0 on SIGTERM', async () => {
    const dirs = [mkdtempSync(join(shm, 'c0-')), mkdtempSync(join(shm, 'c1-'))];
    const state = mkdtempSync(join(shm, 'state-'));
    const ready = join(state, 'ready');
    const env = s.jwtEnv({
      VAULT_INJECT_SECRET_FILES: encodeSecretFiles({
        dir: '/vault/secrets',
        mode: 0o400,
        files: { 'app.conf': 'PASSWORD=${vault:secret/side#password}\n' },
      }),
      VAULT_INJECT_SIDECAR_DIRS: dirs.join(':'),
      VAULT_INJECT_SIDECAR_READY_FILE: ready,
      VAULT_INJECT_REFRESH_INTERVAL: '1s',
    });
    const probe = (): number | null =>
      spawnSync(`${s.bundle}/bin/vault-inject-env`, ['--sidecar-ready'], {
        env: { PATH: '/usr/bin:/bin', VAULT_INJECT_SIDECAR_READY_FILE: ready },
      }).status;
    assert.equal(probe(), 1, 'not ready before the first render');
    const run = startBundle(s.bundle, ['--sidecar'], env);
    const t0 = performance.now();
    while (!existsSync(ready) && performance.now() - t0 < 10_000) await sleep(50);
    assert.equal(probe(), 0, 'ready after the first render');
    const files = dirs.map((d) => join(d, 'app.conf'));
    for (const f of files) {
      assert.equal(readFileSync(f, 'utf8'), `PASSWORD=${CANARY}-1\n`);
      assert.equal(statSync(f).mode & 0o777, 0o400);
    }

    await s.bao.api('POST', 'secret/data/side', { data: { password: `${CANARY}-2` } });
    const t1 = performance.now();
    while (performance.now() - t1 < 5000) {
      if (files.every((f) => readFileSync(f, 'utf8') === `PASSWORD=${CANARY}-2\n`)) break;
      await sleep(100);
    }
    for (const f of files) assert.equal(readFileSync(f, 'utf8'), `PASSWORD=${CANARY}-2\n`);
    for (const d of dirs) assert.deepEqual(readdirSync(d), ['app.conf'], 'no temporary file');
    const rssKb = Number(
      /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${run.pid}/status`, 'utf8'))?.[1],
    );
    console.log(`# sidecar RSS after a refresh: ${rssKb} kB`);
    assert.ok(rssKb > 0 && rssKb < 128 * 1024, `sidecar RSS ${rssKb} kB`);

    run.signal('SIGTERM');
    const r = s.record(await run.done);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /secret files rendered/);
    assert.match(r.stderr, /secret files changed.*app\.conf/);
    assert.doesNotMatch(r.stderr, /sending/, 'no app to tell');
  });

  it('fails clearly without a directory to write into', async () => {
    const r = await s.go(
      s.jwtEnv({
        VAULT_INJECT_SECRET_FILES: encodeSecretFiles({
          dir: '/vault/secrets',
          mode: 0o400,
          files: { a: 'x' },
        }),
      }),
      ['--sidecar'],
    );
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /VAULT_INJECT_SIDECAR_DIRS: no directory/);
  });
});
