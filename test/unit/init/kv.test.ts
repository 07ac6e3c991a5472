// Reading paths (init-binary/src/vault/kv.ts) over a fake VaultHttp that answers like Vault and
// records every call: the mount looked up once per mount, KV v1 and v2 read as the vault CLI does.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DeniedError, MissingSecretError, ProtocolError } from '../../../init-binary/src/errors.ts';
import type { RawResponse, VaultHttp } from '../../../init-binary/src/vault/http.ts';
import { readOnce } from '../../../init-binary/src/vault/client.ts';
import { mountLookup, readSecret } from '../../../init-binary/src/vault/kv.ts';

/**
 * Mounts: path → KV version (undefined: not KV). `denied`: lookups answered 403. A path read
 * without data/ under a KV v2 mount answers 404, as Vault does, and so does any path with "gone".
 */
function fakeVault(mounts: Record<string, 1 | 2 | undefined>, denied: string[] = []) {
  const calls: string[] = [];
  const http: VaultHttp = {
    addr: 'http://127.0.0.1:8200',
    setToken: () => undefined,
    setDeadline: () => undefined,
    write: () => Promise.reject(new Error('no writes here')),
    read: async (path): Promise<RawResponse | undefined> => {
      calls.push(path);
      await new Promise((r) => setImmediate(r));
      const lookup = /^sys\/internal\/ui\/mounts\/(.*)$/.exec(path);
      if (lookup) {
        const target = lookup[1] ?? '';
        if (denied.some((d) => target.startsWith(d))) throw new DeniedError('403');
        const mount = Object.keys(mounts).find((m) => target.startsWith(m));
        if (mount === undefined) return undefined;
        const version = mounts[mount];
        return {
          data: {
            path: mount,
            type: version ? 'kv' : 'pki',
            options: version ? { version: String(version) } : null,
          },
        };
      }
      if (path.includes('gone')) return undefined;
      if (path.includes('/data/')) return { data: { data: { key: path }, metadata: {} } };
      const v2 = Object.keys(mounts).some((m) => path.startsWith(m) && mounts[m] === 2);
      return v2 ? undefined : { data: { key: path } };
    },
  };
  return { http, calls };
}

describe('mountLookup + readSecret', () => {
  it('looks a mount up once for all its paths; KV v2 paths with and without data/', async () => {
    const { http, calls } = fakeVault({ 'secret/': 2, 'kv/': 1 });
    const lookup = mountLookup(http);
    const read = (p: string): Promise<unknown> =>
      readSecret(http, p, undefined, lookup).then((s) => s?.data['key']);
    const got = await Promise.all([
      read('secret/data/one'),
      read('secret/data/two'),
      read('secret/three'),
      read('kv/legacy'),
    ]);
    assert.deepEqual(got, ['secret/data/one', 'secret/data/two', 'secret/data/three', 'kv/legacy']);
    assert.deepEqual(calls.filter((c) => c.startsWith('sys/')).sort(), [
      'sys/internal/ui/mounts/kv/legacy',
      'sys/internal/ui/mounts/secret/data/one',
    ]);
    assert.equal(calls.length, 2 + 4, calls.join(' '));
  });

  it('looks up again when the first answer does not cover the path (a mount of two segments)', async () => {
    const { http, calls } = fakeVault({ 'team/kv/': 2, 'team/pki/': undefined });
    const lookup = mountLookup(http);
    await Promise.all([
      readSecret(http, 'team/kv/data/app', undefined, lookup),
      readSecret(http, 'team/pki/cert/ca', undefined, lookup),
    ]);
    assert.deepEqual(calls.filter((c) => c.startsWith('sys/')).sort(), [
      'sys/internal/ui/mounts/team/kv/data/app',
      'sys/internal/ui/mounts/team/pki/cert/ca',
    ]);
  });

  it('a denied lookup is not shared: the next path asks for itself', async () => {
    const { http, calls } = fakeVault({ 'secret/': 2 }, ['secret/data/hidden']);
    const lookup = mountLookup(http);
    const [hidden, open] = await Promise.all([
      readSecret(http, 'secret/data/hidden', undefined, lookup),
      readSecret(http, 'secret/open', undefined, lookup),
    ]);
    assert.equal(hidden?.data['key'], 'secret/data/hidden', 'literal path, read as v2 (data/)');
    assert.equal(open?.data['key'], 'secret/data/open');
    assert.equal(calls.filter((c) => c.startsWith('sys/')).length, 2);
  });

  it('a denied lookup, then 404 for the literal path: missing, saying why it was read that way', async () => {
    const { http } = fakeVault({ 'secret/': 2 }, ['secret/']);
    const err = await readSecret(http, 'secret/app', undefined).then(
      () => assert.fail('no error'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof MissingSecretError);
    assert.equal(
      err.message,
      'secret secret/app not found; the KV version of its mount could not be detected (the lookup sys/internal/ui/mounts/secret/app was denied); on a KV v2 mount write data/ after the mount (e.g. secret/data/app) or allow reading sys/internal/ui/mounts/*',
    );
    // A lookup that was answered: a plain "missing" (undefined), for resolve() to name.
    const answered = fakeVault({ 'kv/': 1 });
    assert.equal(await readSecret(answered.http, 'kv/gone', undefined), undefined);
  });

  it('reads one KV v2 secret once, however its path is written (readOnce)', async () => {
    const { http, calls } = fakeVault({ 'secret/': 2 });
    const once = readOnce(http);
    const lookup = mountLookup(once);
    const got = await Promise.all(
      ['secret/app', 'secret/data/app', 'secret/app', 'secret/data/app'].map((p, i) =>
        readSecret(once, p, i < 2 ? undefined : 3, lookup).then((s) => s?.data['key']),
      ),
    );
    assert.deepEqual(got, [
      'secret/data/app',
      'secret/data/app',
      'secret/data/app?version=3',
      'secret/data/app?version=3',
    ]);
    assert.deepEqual(calls.filter((c) => !c.startsWith('sys/')).sort(), [
      'secret/data/app',
      'secret/data/app?version=3',
    ]);
  });
});

describe('a mount lookup answered with something that is not JSON', () => {
  it('is no answer: the literal path is read, as after a 4xx', async () => {
    const { http, calls } = fakeVault({ 'secret/': 2 });
    const proxied: VaultHttp = {
      ...http,
      read: (path, options) =>
        path.startsWith('sys/internal/')
          ? Promise.reject(new ProtocolError("Vault's answer is not JSON (HTTP 200)"))
          : http.read(path, options),
    };
    const secret = await readSecret(proxied, 'secret/data/app', undefined);
    assert.equal(secret?.data['key'], 'secret/data/app');
    assert.deepEqual(calls, ['secret/data/app']);
  });
});
