import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { findReferences } from '../../../init-binary/src/env.ts';
import {
  DeniedError,
  MissingSecretError,
  UnavailableError,
} from '../../../init-binary/src/errors.ts';
import { silentLogger, type Logger } from '../../../init-binary/src/log.ts';
import {
  resolve,
  stableJson,
  type ResolveInput,
  type Secret,
  type SecretApi,
} from '../../../init-binary/src/resolve.ts';

const CANARY = 'canary-7f3e9a';

/** A fake Vault: secrets by path (and path#version), counting calls and concurrency. */
function fakeApi(secrets: Record<string, Readonly<Record<string, unknown>> | Error>, delayMs = 5) {
  const calls: string[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const lookup = async (key: string): Promise<Secret | undefined> => {
    calls.push(key);
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    await new Promise((r) => setTimeout(r, delayMs));
    inFlight--;
    const s = secrets[key];
    if (s instanceof Error) throw s;
    return s === undefined ? undefined : { data: s };
  };
  const api: SecretApi = {
    read: (path, version) => lookup(version === undefined ? path : `${path}#${version}`),
    write: async (path, body) => {
      const s = await lookup(`>>${path}`);
      return {
        data: { ...s?.data, echo: stableJson(body) },
        lease: { id: `lease-${path}`, ttlSeconds: 60, renewable: true },
      };
    },
    decrypt: async (ciphertexts) => {
      calls.push(`decrypt:${ciphertexts.length}`);
      return ciphertexts.map((c) => (c.endsWith('QkFE') ? undefined : `plain(${c.slice(9)})`));
    },
  };
  return { api, calls, maxInFlight: () => maxInFlight };
}

function input(env: Record<string, string>, extra: Partial<ResolveInput> = {}): ResolveInput {
  return {
    variables: findReferences(env),
    fromPaths: [],
    explicitNames: new Set(Object.keys(env)),
    ignoreMissing: false,
    transitConfigured: true,
    ...extra,
  };
}

function capture(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  const push = (m: string): void => {
    lines.push(m);
  };
  return { log: { debug: push, info: push, warn: push, error: push }, lines };
}

describe('resolve', () => {
  it('reads each distinct path and version once, concurrently', async () => {
    const fake = fakeApi({
      'secret/a': { user: 'u', pass: CANARY },
      'secret/b': { k: 'b' },
      'secret/a#2': { user: 'u2' },
    });
    const result = await resolve(
      input({
        A1: 'vault:secret/a#user',
        A2: 'vault:secret/a#pass',
        A3: 'x${vault:secret/a#user}:${vault:secret/b#k}',
        A4: 'vault:secret/a#user#2',
        B: 'vault:secret/b#${.k | upper}',
      }),
      fake.api,
      silentLogger,
    );
    assert.deepEqual(Object.fromEntries(result.values), {
      A1: 'u',
      A2: CANARY,
      A3: 'xu:b',
      A4: 'u2',
      B: 'B',
    });
    assert.deepEqual(fake.calls.sort(), ['secret/a', 'secret/a#2', 'secret/b']);
    assert.equal(fake.maxInFlight(), 3);
  });

  it('bounds concurrency', async () => {
    const secrets = Object.fromEntries(
      Array.from({ length: 20 }, (_, i) => [`s/${i}`, { k: 'v' }]),
    );
    const env = Object.fromEntries(
      Array.from({ length: 20 }, (_, i) => [`V${i}`, `vault:s/${i}#k`]),
    );
    const fake = fakeApi(secrets);
    await resolve(input(env, { concurrency: 4 }), fake.api, silentLogger);
    assert.equal(fake.calls.length, 20);
    assert.equal(fake.maxInFlight(), 4);
  });

  it('writes once per path and body, whatever the key order', async () => {
    const fake = fakeApi({ '>>db/creds/app': { username: 'u', password: 'p' } });
    const result = await resolve(
      input({
        URL: 'pg://${>>vault:db/creds/app#username#{"a":1,"b":2}}:${>>vault:db/creds/app#password#{"b":2,"a":1}}@db',
        OTHER: '>>vault:db/creds/app#username',
      }),
      fake.api,
      silentLogger,
    );
    assert.equal(result.values.get('URL'), 'pg://u:p@db');
    assert.deepEqual(fake.calls, ['>>db/creds/app', '>>db/creds/app']);
    assert.deepEqual(
      result.leases.map((l) => l.id),
      ['lease-db/creds/app'],
    );
  });

  it('decrypts every transit ciphertext in one batch', async () => {
    const fake = fakeApi({});
    const result = await resolve(
      input({ T1: 'vault:v1:QUJD', T2: 'vault:v1:REVG', T3: 'x${vault:v1:QUJD}' }),
      fake.api,
      silentLogger,
    );
    assert.deepEqual(Object.fromEntries(result.values), {
      T1: 'plain(QUJD)',
      T2: 'plain(REVG)',
      T3: 'xplain(QUJD)',
    });
    assert.deepEqual(fake.calls, ['decrypt:2']);
  });

  it('needs a transit key for a ciphertext', async () => {
    await assert.rejects(
      resolve(
        input({ T: 'vault:v1:QUJD' }, { transitConfigured: false }),
        fakeApi({}).api,
        silentLogger,
      ),
      /^ConfigError: T: a transit ciphertext, but VAULT_TRANSIT_KEY_ID is not set/,
    );
  });

  it('names the variable when a ciphertext cannot be decrypted', async () => {
    await assert.rejects(
      resolve(input({ T: 'vault:v1:QkFE' }), fakeApi({}).api, silentLogger),
      /T: Vault could not decrypt/,
    );
  });

  it('adds every key of the from-path paths; explicit names win, later paths win', async () => {
    const fake = fakeApi({
      'secret/one': { A: '1', B: '1', HOME: 'x' },
      'secret/two': { B: '2', N: 3 },
    });
    const result = await resolve(
      input({ HOME: '/root' }, { fromPaths: [{ path: 'secret/one' }, { path: 'secret/two' }] }),
      fake.api,
      silentLogger,
    );
    assert.deepEqual(Object.fromEntries(result.values), { A: '1', B: '2', N: '3' });
  });

  it('reads a from-path pinned to a version at that version, beside the latest', async () => {
    const fake = fakeApi({ 'secret/one': { A: 'latest' }, 'secret/one#1': { A: 'first', B: 'b' } });
    const result = await resolve(
      input({}, { fromPaths: [{ path: 'secret/one' }, { path: 'secret/one', version: 1 }] }),
      fake.api,
      silentLogger,
    );
    assert.deepEqual(Object.fromEntries(result.values), { A: 'first', B: 'b' });
    assert.deepEqual([...fake.calls].sort(), ['secret/one', 'secret/one#1']);
  });

  it('names a missing from-path version with its version', async () => {
    const fake = fakeApi({ 'secret/one': { A: 'latest' } });
    await assert.rejects(
      resolve(
        input({}, { fromPaths: [{ path: 'secret/one', version: 7 }] }),
        fake.api,
        silentLogger,
      ),
      (err: Error) =>
        err instanceof MissingSecretError && /secret\/one#7 not found/.test(err.message),
    );
  });

  describe('ignore-missing', () => {
    const secrets = { 'secret/a': { k: 'v' } };
    const env = {
      GONE_PATH: 'vault:secret/none#k',
      GONE_KEY: 'vault:secret/a#none',
      OK: 'vault:secret/a#k',
    };

    it('fails on a missing path or key by default, naming the variable and path', async () => {
      await assert.rejects(
        resolve(input({ X: 'vault:secret/none#k' }), fakeApi(secrets).api, silentLogger),
        (err: unknown) => {
          assert.ok(err instanceof MissingSecretError);
          assert.equal(err.message, 'X: secret vault:secret/none#k not found');
          return true;
        },
      );
      await assert.rejects(
        resolve(input({ Y: 'vault:secret/a#none' }), fakeApi(secrets).api, silentLogger),
        /^MissingSecretError: Y: key "none" not found in secret\/a$/,
      );
    });

    it('skips them with a warning when set', async () => {
      const { log, lines } = capture();
      const result = await resolve(input(env, { ignoreMissing: true }), fakeApi(secrets).api, log);
      assert.deepEqual(Object.fromEntries(result.values), { OK: 'v' });
      assert.deepEqual(result.skipped, ['GONE_PATH', 'GONE_KEY']);
      assert.equal(lines.length, 2);
      assert.match(
        lines[0] ?? '',
        /GONE_PATH: secret vault:secret\/none#k not found; GONE_PATH is left out/,
      );
    });

    it('still fails on a denial or an unreachable Vault', async () => {
      for (const error of [
        new DeniedError('Vault denied reading secret/x (403)'),
        new UnavailableError('unreachable'),
      ]) {
        await assert.rejects(
          resolve(
            input({ X: 'vault:secret/x#k' }, { ignoreMissing: true }),
            fakeApi({ 'secret/x': error }).api,
            silentLogger,
          ),
          (err: unknown) =>
            err instanceof Error &&
            err.constructor === error.constructor &&
            err.message.startsWith('X: '),
        );
      }
    });
  });

  it('never puts a value in an error', async () => {
    const fake = fakeApi({ 'secret/a': { k: CANARY } });
    await assert.rejects(
      resolve(input({ X: 'vault:secret/a#${.k | b64dec}' }), fake.api, silentLogger),
      (err: unknown) => {
        assert.ok(err instanceof Error);
        assert.doesNotMatch(`${err.message} ${String(err.cause)}`, new RegExp(CANARY));
        return true;
      },
    );
  });
});
