// Vault Agent templates in a refreshing daemon (init-binary/src/agent-answers.ts,
// daemon-round.ts) with a fake Vault and a fake clock: a KV read is made again each round and the
// file re-rendered; a write (PKI issue) or a leased read is reused until two thirds of its
// lifetime, then made again; a write without a lifetime is never made again.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { agentAnswers } from '../../../init-binary/src/agent-answers.ts';
import { agentTemplates, renderAgentFiles } from '../../../init-binary/src/agent-files.ts';
import type { SecretFilesSpec } from '../../../init-binary/src/contract/secret-files.ts';
import { daemonResolver, renderRound } from '../../../init-binary/src/daemon-round.ts';
import { createLogger } from '../../../init-binary/src/log.ts';
import type { VaultSession } from '../../../init-binary/src/vault/client.ts';
import type { VaultHttp } from '../../../init-binary/src/vault/http.ts';

const CANARY = 'canary-agent-refresh-3f9e';
const WALL0 = 1_800_000_000_000;

/** A Vault whose answers the test changes; records every call. */
function fakeVault(paths: Record<string, Record<string, unknown>>) {
  const calls: string[] = [];
  const http = {
    addr: 'https://vault.test',
    setDeadline: () => undefined,
    setToken: () => undefined,
    read: (path: string) => {
      calls.push(`GET ${path}`);
      return Promise.resolve(paths[path]);
    },
    write: (path: string) => {
      calls.push(`PUT ${path}`);
      return Promise.resolve(paths[path] ?? {});
    },
  } as unknown as VaultHttp;
  return { http, calls, paths };
}

function spec(agent: Record<string, string>): SecretFilesSpec {
  return {
    dir: '/vault/secrets',
    mode: 0o400,
    files: {},
    agent: Object.fromEntries(
      Object.entries(agent).map(([f, template]) => [
        f,
        { template, annotation: `vault.hashicorp.com/agent-inject-template-${f}` },
      ]),
    ),
  };
}

const log = createLogger({ level: 'info', json: false, write: () => undefined });

function clock() {
  const c = { mono: 0, wall: WALL0 };
  const advance = (ms: number): void => {
    c.mono += ms;
    c.wall += ms;
  };
  return { c, advance, now: () => c.mono, wallNow: () => c.wall };
}

const kv = (password: string) => ({ data: { data: { password }, metadata: { version: 1 } } });

describe('agent templates refreshed', () => {
  it('reads KV again each round and renders the new value', async () => {
    const v = fakeVault({ 'secret/data/db': kv(CANARY) });
    const t = clock();
    const answers = agentAnswers(t);
    const work = agentTemplates(
      spec({ db: '{{ with secret "secret/data/db" }}{{ .Data.data.password }}{{ end }}' }),
    );
    const render = () =>
      renderAgentFiles(work, { http: v.http }, { ignoreMissing: false, log, answers });
    assert.equal((await render()).get('db'), CANARY);
    v.paths['secret/data/db'] = kv(`${CANARY}-2`);
    t.advance(10_000);
    assert.equal((await render()).get('db'), `${CANARY}-2`);
    assert.deepEqual(v.calls, ['GET secret/data/db', 'GET secret/data/db']);
    assert.equal(answers.nextDue(), undefined);
  });

  it('reuses a PKI certificate until two thirds of its lifetime, then issues another', async () => {
    const t = clock();
    const cert = (serial: string) => ({
      data: { certificate: serial, expiration: Math.floor(t.c.wall / 1000) + 300 },
      lease_id: '',
      lease_duration: 0,
    });
    const v = fakeVault({ 'pki/issue/web': cert('CERT-1') });
    const answers = agentAnswers(t);
    const work = agentTemplates(
      spec({
        cert: '{{ with secret "pki/issue/web" "common_name=a.example" }}{{ .Data.certificate }}{{ end }}',
      }),
    );
    const render = () =>
      renderAgentFiles(work, { http: v.http }, { ignoreMissing: false, log, answers });
    assert.equal((await render()).get('cert'), 'CERT-1');
    assert.equal(answers.nextDue(), 200_000);
    v.paths['pki/issue/web'] = cert('CERT-2');
    t.advance(199_000);
    assert.equal((await render()).get('cert'), 'CERT-1');
    assert.deepEqual(v.calls, ['PUT pki/issue/web']);
    t.advance(1_000);
    assert.equal((await render()).get('cert'), 'CERT-2');
    assert.deepEqual(v.calls, ['PUT pki/issue/web', 'PUT pki/issue/web']);
  });

  it('reuses a leased read until two thirds of its lease', async () => {
    const t = clock();
    const creds = (user: string) => ({
      data: { username: user },
      lease_id: `database/creds/app/${user}`,
      lease_duration: 90,
      renewable: true,
    });
    const v = fakeVault({ 'database/creds/app': creds('u1') });
    const answers = agentAnswers(t);
    const work = agentTemplates(
      spec({ db: '{{ with secret "database/creds/app" }}{{ .Data.username }}{{ end }}' }),
    );
    const render = () =>
      renderAgentFiles(work, { http: v.http }, { ignoreMissing: false, log, answers });
    assert.equal((await render()).get('db'), 'u1');
    v.paths['database/creds/app'] = creds('u2');
    t.advance(59_999);
    assert.equal((await render()).get('db'), 'u1');
    t.advance(1);
    assert.equal((await render()).get('db'), 'u2');
    assert.deepEqual(v.calls, ['GET database/creds/app', 'GET database/creds/app']);
  });

  it('never makes a write without a lifetime again', async () => {
    const t = clock();
    const v = fakeVault({ 'transit/random/8': { data: { random_bytes: 'R1' } } });
    const answers = agentAnswers(t);
    const work = agentTemplates(
      spec({
        r: '{{ with secret "transit/random/8" "format=hex" }}{{ .Data.random_bytes }}{{ end }}',
      }),
    );
    const render = () =>
      renderAgentFiles(work, { http: v.http }, { ignoreMissing: false, log, answers });
    await render();
    t.advance(10 * 86_400_000);
    await render();
    assert.deepEqual(v.calls, ['PUT transit/random/8']);
    assert.equal(answers.nextDue(), undefined);
  });
});

describe('a daemon round', () => {
  it('renders the templates through the round’s shared reads, due with the cache', async () => {
    const t = clock();
    const v = fakeVault({ 'secret/data/db': kv(CANARY) });
    const rounds: VaultHttp[] = [];
    const session = {
      http: v.http,
      reads: v.http,
      api: { read: () => Promise.resolve(undefined) },
      reread: () => {
        const reads: VaultHttp = {
          ...v.http,
          read: (p, o) => (rounds.push(reads), v.http.read(p, o)),
        };
        return { read: () => Promise.resolve(undefined), reads };
      },
    } as unknown as VaultSession;
    const d = daemonResolver(session, new Set(), t.now);
    const work = agentTemplates(
      spec({ db: '{{ with secret "secret/data/db" }}{{ .Data.data.password }}{{ end }}' }),
    );
    const input = {
      variables: [],
      fromPaths: [],
      explicitNames: new Set<string>(),
      ignoreMissing: false,
      transitConfigured: false,
    };
    v.paths['secret/data/db'] = kv(`${CANARY}-2`);
    const round = { input, files: [], agentFiles: work, ignoreMissing: false, log };
    const out = await renderRound(d, round);
    assert.equal(out.contents.get('db'), `${CANARY}-2`);
    assert.equal(rounds.length, 1);
    assert.equal(d.session().reads, rounds[0]);
    assert.equal(d.nextDue(), undefined);
  });
});
