// Refresh of Vault Agent template files (vault.hashicorp.com/agent-inject-secret-NAME) in daemon
// mode (docs/init-program.md#refresh) with the BUILT bundle against a real OpenBao dev server on
// loopback, the files on tmpfs: a KV write reaches the template's file within the refresh
// interval and the app gets SIGHUP; a PKI `secret` call with parameters is not issued again each
// interval, but is before its certificate expires; a Vault that fails during a refresh leaves the
// file and the app alone, in log lines naming the path. Secrets never reach stdout or stderr.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe } from 'node:test';
import {
  encodeSecretFiles,
  type AgentFile,
} from '../../../init-binary/src/contract/secret-files.ts';
import { startBundle } from './bundle.ts';
import { startGateway, type Gateway } from './gateway.ts';
import { openBaoSuite } from './harness.ts';
import { daemonEnv, sleep, stop, untilChanged } from './refresh-harness.ts';

const CANARY = `canary-${process.pid}-4g3ntr`;
const shm = mkdtempSync('/dev/shm/vault-inject-agent-refresh-');
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
    // Certificates of 9 s, with a lease (PKI leases cannot be renewed).
    await bao.api('POST', 'pki/roles/agent-short', {
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

const A = 'vault.hashicorp.com/agent-inject-template-';

/** The agent files in a new directory on tmpfs, as the webhook encodes them. */
function agentFiles(templates: Record<string, string>): { dir: string; value: string } {
  const dir = mkdtempSync(join(shm, 'd-'));
  const agent: Record<string, AgentFile> = Object.fromEntries(
    Object.entries(templates).map(([f, template]) => [f, { template, annotation: `${A}${f}` }]),
  );
  return { dir, value: encodeSecretFiles({ dir, mode: 0o400, files: {}, agent }) };
}

const env = (extra: Record<string, string>): Record<string, string> =>
  daemonEnv(s, gateway(), extra);

/** An app that says when it starts (its PID, never a value) and each SIGHUP. */
const APP = [
  '/bin/sh',
  '-c',
  'trap "echo GOT_HUP" HUP; trap "echo GOT_TERM; exit 0" TERM; echo "START $$"; echo READY; while :; do sleep 0.1; done',
];

const DB = '{{ with secret "secret/data/agentdb" }}PASSWORD={{ .Data.data.password }}{{ end }}\n';

describe('agent template refresh against OpenBao', () => {
  it('rewrites a template file within the refresh interval and sends the app SIGHUP', async () => {
    await s.bao.api('POST', 'secret/data/agentdb', { data: { password: `${CANARY}-1` } });
    const f = agentFiles({ 'db.conf': DB });
    const file = join(f.dir, 'db.conf');
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

    await s.bao.api('POST', 'secret/data/agentdb', { data: { password: `${CANARY}-2` } });
    const ms = await untilChanged(read, `PASSWORD=${CANARY}-1\n`, 4000);
    assert.ok(ms <= 2000 + 500, `changed after ${Math.round(ms)} ms`);
    assert.equal(read(), `PASSWORD=${CANARY}-2\n`);
    await run.waitFor(/^GOT_HUP$/m, 2000);
    const st = statSync(file);
    assert.notEqual(st.ino, inode, 'replaced by rename');
    assert.equal(st.mode & 0o777, 0o400);
    assert.deepEqual(readdirSync(f.dir), ['db.conf'], 'no temporary file left');
    const r = await stop(s, run);
    assert.equal(r.stdout.match(/^START /gm)?.length, 1, 'the app was never restarted');
    assert.equal(r.stdout.match(/^GOT_HUP$/gm)?.length, 1, 'one signal for one change');
    assert.match(r.stderr, /secret files changed.*db\.conf/);
  });

  it('keeps a PKI certificate across intervals and issues another before it expires', async () => {
    await s.bao.api('POST', 'secret/data/agentdb', { data: { password: `${CANARY}-a` } });
    const f = agentFiles({
      'db.conf': DB,
      'tls.crt':
        '{{ with secret "pki/issue/agent-short" "common_name=a.example.test" }}{{ .Data.certificate }}{{ end }}',
    });
    const crt = join(f.dir, 'tls.crt');
    const db = join(f.dir, 'db.conf');
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
    const first = new X509Certificate(readFileSync(crt));
    // Rounds do happen (the KV file follows a write), and they leave the certificate alone.
    await s.bao.api('POST', 'secret/data/agentdb', { data: { password: `${CANARY}-b` } });
    await untilChanged(() => readFileSync(db, 'utf8'), `PASSWORD=${CANARY}-a\n`, 3000);
    await sleep(1500);
    // Two thirds of 9 s: 3 s before it expires (PKI's `expiration`, as the certificate's notAfter).
    const reissueAt = Date.parse(first.validTo) - 3000;
    assert.ok(Date.now() < reissueAt, 'checked before two thirds of the certificate');
    assert.equal(new X509Certificate(readFileSync(crt)).serialNumber, first.serialNumber);

    const before = readFileSync(crt, 'utf8');
    await untilChanged(() => readFileSync(crt, 'utf8'), before, 10_000);
    assert.ok(Date.now() < Date.parse(first.validTo), 'replaced before the old one expired');
    const second = new X509Certificate(readFileSync(crt));
    assert.notEqual(second.serialNumber, first.serialNumber);
    const r = await stop(s, run);
    assert.equal(r.stdout.match(/^START /gm)?.length, 1, 'never restarted');
    assert.ok((r.stdout.match(/^GOT_HUP$/gm)?.length ?? 0) >= 2, 'a signal for each change');
  });

  it('keeps the old file and the app while Vault fails, naming the path', async () => {
    await s.bao.api('POST', 'secret/data/agentdb', { data: { password: `${CANARY}-up` } });
    const f = agentFiles({ 'db.conf': DB });
    const file = join(f.dir, 'db.conf');
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
    await s.bao.api('POST', 'secret/data/agentdb', { data: { password: `${CANARY}-changed` } });
    await sleep(4000);
    assert.equal(readFileSync(file, 'utf8'), `PASSWORD=${CANARY}-up\n`, 'the old file is kept');
    assert.doesNotMatch(run.stdout(), /GOT_TERM|GOT_HUP/, 'the app is left alone');
    const failures = run.stderr().match(/refresh failed: [^\n]*/g) ?? [];
    assert.ok(failures.length >= 1, run.stderr());
    for (const line of failures) assert.match(line, /secret\/data\/agentdb/, 'names the path');
    gateway().setPolicy(() => 'forward');
    await untilChanged(() => readFileSync(file, 'utf8'), `PASSWORD=${CANARY}-up\n`, 10_000);
    await run.waitFor(/^GOT_HUP$/m, 2000);
    const r = await stop(s, run);
    assert.equal(r.stdout.match(/^START /gm)?.length, 1);
  });
});
