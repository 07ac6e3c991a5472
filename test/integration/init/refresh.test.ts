// Refresh in daemon mode (docs/init-program.md#refresh) with the BUILT bundle against a real
// OpenBao dev server on loopback, the files on tmpfs (/dev/shm, as the pod's memory emptyDir): a
// write to OpenBao reaches the file within the refresh interval and the app gets SIGHUP; `reload:
// restart` starts the app again with the new environment value; a PKI certificate of a short TTL
// is issued again into the file before it expires (its lease left to the refresh, so the app is
// not stopped); a Vault that fails during a refresh leaves the file and the app alone. A gateway
// on loopback (gateway.ts) stands for the failing Vault. Secrets never reach stdout or stderr.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe } from 'node:test';
import { encodeSecretFiles } from '../../../init-binary/src/contract/secret-files.ts';
import { startBundle } from './bundle.ts';
import { startGateway, type Gateway } from './gateway.ts';
import { openBaoSuite } from './harness.ts';
import { daemonEnv, sleep, stop, untilChanged } from './refresh-harness.ts';

const CANARY = `canary-${process.pid}-r3fr35h`;
const shm = mkdtempSync('/dev/shm/vault-inject-refresh-');
after(() => rmSync(shm, { recursive: true, force: true }));

let gw: Gateway | undefined;
const gateway = (): Gateway => {
  assert.ok(gw, 'no gateway');
  return gw;
};

const s = openBaoSuite({
  canary: CANARY,
  timeoutMs: 120_000,
  checkRun: (r) => assert.doesNotMatch(r.stdout, new RegExp(CANARY), 'a secret reached stdout'),
  setUp: async (bao) => {
    gw = await startGateway(bao.addr);
    await bao.api('POST', 'secret/data/app', { data: { password: `${CANARY}-1` } });
    // Certificates of 9 s, with a lease that cannot be renewed (PKI leases never can).
    await bao.api('POST', 'pki/roles/short', {
      allowed_domains: 'example.test',
      allow_subdomains: true,
      generate_lease: true,
      ttl: '9s',
      max_ttl: '9s',
    });
  },
});
const { it } = s;

after(async () => gw?.close());

/** The spec of `files` in a new directory on tmpfs, as the webhook encodes it. */
function filesIn(files: Record<string, string>): { dir: string; value: string } {
  const dir = mkdtempSync(join(shm, 'd-'));
  return { dir, value: encodeSecretFiles({ dir, mode: 0o400, files }) };
}

const env = (extra: Record<string, string>): Record<string, string> =>
  daemonEnv(s, gateway(), extra);

/** An app that says when it starts (its PID, the length of $P: never a value) and each SIGHUP. */
const APP = [
  '/bin/sh',
  '-c',
  'trap "echo GOT_HUP" HUP; trap "echo GOT_TERM; exit 0" TERM; echo "START $$ ${#P}"; echo READY; while :; do sleep 0.1; done',
];

describe('refresh against OpenBao', () => {
  it('rewrites a file within the refresh interval and sends the app SIGHUP', async () => {
    const f = filesIn({ 'app.conf': 'PASSWORD=${vault:secret/app#password}\n' });
    const file = join(f.dir, 'app.conf');
    const run = startBundle(
      s.bundle,
      APP,
      env({
        VAULT_INJECT_SECRET_FILES: f.value,
        VAULT_INJECT_REFRESH_INTERVAL: '2s',
        VAULT_INJECT_RELOAD_SIGNAL: 'SIGHUP',
      }),
    );
    await run.waitFor(/^READY$/m);
    const read = (): string => readFileSync(file, 'utf8');
    assert.equal(read(), `PASSWORD=${CANARY}-1\n`);
    const inode = statSync(file).ino;
    await sleep(2500);
    assert.doesNotMatch(run.stdout(), /GOT_HUP/, 'no signal while nothing changed');

    await s.bao.api('POST', 'secret/data/app', { data: { password: `${CANARY}-2` } });
    const ms = await untilChanged(read, `PASSWORD=${CANARY}-1\n`, 4000);
    assert.ok(ms <= 2000 + 500, `changed after ${Math.round(ms)} ms`);
    assert.equal(read(), `PASSWORD=${CANARY}-2\n`);
    await run.waitFor(/^GOT_HUP$/m, 2000);
    const st = statSync(file);
    assert.notEqual(st.ino, inode, 'replaced by rename');
    assert.equal(st.mode & 0o777, 0o400);
    assert.deepEqual(readdirSync(f.dir), ['app.conf'], 'no temporary file left');
    // The daemon's resident memory after a refresh (docs/init-program.md#refresh reports it).
    const rssKb = Number(
      /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${run.pid}/status`, 'utf8'))?.[1],
    );
    console.log(`# daemon RSS after a refresh: ${rssKb} kB`);
    assert.ok(rssKb > 0 && rssKb < 128 * 1024, `daemon RSS ${rssKb} kB`);
    const r = await stop(s, run);
    assert.equal(r.stdout.match(/^START /gm)?.length, 1, 'the app was never restarted');
    assert.equal(r.stdout.match(/^GOT_HUP$/gm)?.length, 1, 'one signal for one change');
    assert.match(r.stderr, /secret files changed.*app\.conf/);
    assert.match(r.stderr, /sending SIGHUP to the app/);
  });

  it('reload: restart starts the app again with the new environment value', async () => {
    await s.bao.api('POST', 'secret/data/rot', { data: { password: `${CANARY}-x` } });
    const run = startBundle(
      s.bundle,
      APP,
      env({
        P: 'vault:secret/rot#password',
        VAULT_INJECT_REFRESH_INTERVAL: '1s',
        VAULT_INJECT_RELOAD: 'restart',
      }),
    );
    await run.waitFor(/^READY$/m);
    const first = /^START (\d+) (\d+)$/m.exec(run.stdout());
    assert.equal(first?.[2], String(`${CANARY}-x`.length));
    await s.bao.api('POST', 'secret/data/rot', { data: { password: `${CANARY}-longer` } });
    await run.waitFor(/^START \d+ \d+\n(?:.*\n)*START (\d+) (\d+)$/m, 5000);
    const starts = [...run.stdout().matchAll(/^START (\d+) (\d+)$/gm)];
    assert.equal(starts.length, 2);
    assert.notEqual(starts[1]?.[1], first?.[1], 'a new process');
    assert.equal(starts[1]?.[2], String(`${CANARY}-longer`.length), 'with the new value');
    assert.match(run.stdout(), /^GOT_TERM$/m, 'the old app was stopped with SIGTERM');
    const r = await stop(s, run);
    assert.equal(r.code, 0);
    assert.match(r.stderr, /restarting the app with the new values/);
  });

  it('with a signal only, a changed env value is logged as needing a restart (names only)', async () => {
    await s.bao.api('POST', 'secret/data/env', { data: { password: `${CANARY}-a` } });
    const run = startBundle(
      s.bundle,
      APP,
      env({
        P: 'vault:secret/env#password',
        VAULT_INJECT_REFRESH_INTERVAL: '1s',
        VAULT_INJECT_RELOAD: 'signal',
      }),
    );
    await run.waitFor(/^READY$/m);
    await s.bao.api('POST', 'secret/data/env', { data: { password: `${CANARY}-b` } });
    const t0 = performance.now();
    while (
      !/environment values changed \(P\)/.test(run.stderr()) &&
      performance.now() - t0 < 5000
    ) {
      await sleep(100);
    }
    const r = await stop(s, run);
    assert.match(r.stderr, /environment values changed \(P\); the app keeps the old ones/);
    assert.equal(r.stdout.match(/^START /gm)?.length, 1, 'not restarted');
    assert.doesNotMatch(r.stdout, /GOT_HUP/, 'no file changed: no signal');
  });

  it('issues a short-lived PKI certificate again into the file before it expires', async () => {
    const f = filesIn({
      'tls.crt': '${>>vault:pki/issue/short#certificate#{"common_name":"a.example.test"}}',
    });
    const file = join(f.dir, 'tls.crt');
    const run = startBundle(
      s.bundle,
      APP,
      env({ VAULT_INJECT_SECRET_FILES: f.value, VAULT_INJECT_RELOAD_SIGNAL: 'HUP' }),
    );
    await run.waitFor(/^READY$/m);
    const certs: X509Certificate[] = [new X509Certificate(readFileSync(file))];
    // Two renewals: the second proves the first certificate's lease did not stop the app.
    for (let i = 0; i < 2; i++) {
      const before = readFileSync(file, 'utf8');
      await untilChanged(() => readFileSync(file, 'utf8'), before, 12_000);
      const now = Date.now();
      const previous = certs.at(-1) as X509Certificate;
      assert.ok(now < Date.parse(previous.validTo), 'replaced before the old one expired');
      certs.push(new X509Certificate(readFileSync(file)));
    }
    const [a, b, c] = certs;
    assert.notEqual(a?.serialNumber, b?.serialNumber);
    assert.notEqual(b?.serialNumber, c?.serialNumber);
    await run.waitFor(/^GOT_HUP\n(?:.*\n)*GOT_HUP$/m, 2000);
    const r = await stop(s, run);
    assert.equal(r.stdout.match(/^START /gm)?.length, 1, 'never restarted');
    assert.doesNotMatch(r.stderr, /stopping the app/);
  });

  it('keeps the old file and the app while Vault fails, and catches up when it is back', async () => {
    await s.bao.api('POST', 'secret/data/down', { data: { password: `${CANARY}-up` } });
    const f = filesIn({ 'p.txt': 'vault:secret/down#password' });
    const file = join(f.dir, 'p.txt');
    const run = startBundle(
      s.bundle,
      APP,
      env({
        VAULT_INJECT_SECRET_FILES: f.value,
        VAULT_INJECT_REFRESH_INTERVAL: '1s',
        VAULT_INJECT_RELOAD_SIGNAL: 'SIGHUP',
      }),
    );
    await run.waitFor(/^READY$/m);
    gateway().setPolicy(() => ({ status: 503, errors: ['Vault is sealed'] }));
    await s.bao.api('POST', 'secret/data/down', { data: { password: `${CANARY}-changed` } });
    await sleep(6000);
    assert.equal(readFileSync(file, 'utf8'), `${CANARY}-up`, 'the old file is kept');
    assert.doesNotMatch(run.stdout(), /GOT_TERM|GOT_HUP/, 'the app is left alone');
    const failures = run.stderr().match(/refresh failed: [^\n]*/g) ?? [];
    assert.ok(failures.length >= 2, run.stderr());
    for (const line of failures) {
      assert.match(line, /secret\/down/, 'the line names the path');
      assert.match(line, /the files and the app are kept, next try in \d+s/);
    }
    gateway().setPolicy(() => 'forward');
    await untilChanged(() => readFileSync(file, 'utf8'), `${CANARY}-up`, 10_000);
    assert.equal(readFileSync(file, 'utf8'), `${CANARY}-changed`);
    await run.waitFor(/^GOT_HUP$/m, 2000);
    const r = await stop(s, run);
    assert.equal(r.stdout.match(/^START /gm)?.length, 1);
  });
});
