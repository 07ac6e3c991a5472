// The init program's settings that came with Bank-Vaults' annotations: VAULT_ENV_DELAY (wait after
// resolving, before the app starts: vault-env 1.23.0 main.go sleeps between the injection and the
// spawn), VAULT_TRANSIT_BATCH_SIZE (vault-sdk injector.go paginates transit decrypts), and
// VAULT_LOG_LEVEL / VAULT_JSON_LOG as the webhook's log-level / enable-json-log set them.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfig } from '../../../init-binary/src/config.ts';
import { exitCodeOf } from '../../../init-binary/src/errors.ts';
import { run, type RunDependencies } from '../../../init-binary/src/run.ts';
import type { VaultSession } from '../../../init-binary/src/vault/client.ts';

describe('VAULT_ENV_DELAY and VAULT_TRANSIT_BATCH_SIZE', () => {
  const cases: [Record<string, string>, number, number][] = [
    [{}, 0, 0],
    [{ VAULT_ENV_DELAY: '1m30s', VAULT_TRANSIT_BATCH_SIZE: '25' }, 90_000, 25],
    [{ VAULT_ENV_DELAY: '0s', VAULT_TRANSIT_BATCH_SIZE: '0' }, 0, 0],
    [{ VAULT_ENV_DELAY: '2', VAULT_TRANSIT_BATCH_SIZE: ' 5 ' }, 2000, 5],
    [{ VAULT_ENV_DELAY: '500ms' }, 500, 0],
  ];
  for (const [env, delay, batch] of cases) {
    it(`${JSON.stringify(env)} → ${delay} ms, batches of ${batch}`, () => {
      const c = parseConfig(env);
      assert.deepEqual([c.envDelayMs, c.transitBatchSize], [delay, batch]);
    });
  }
  for (const env of [
    { VAULT_ENV_DELAY: 'soon' },
    { VAULT_ENV_DELAY: '-1s' },
    { VAULT_TRANSIT_BATCH_SIZE: '-1' },
    { VAULT_TRANSIT_BATCH_SIZE: '2.5' },
    { VAULT_TRANSIT_BATCH_SIZE: 'ten' },
  ]) {
    it(`${JSON.stringify(env)} is a bad setting (78) naming the variable`, () => {
      assert.throws(
        () => parseConfig(env),
        (e: unknown) => exitCodeOf(e) === 78 && String(e).includes(Object.keys(env)[0] as string),
      );
    });
  }
});

describe('VAULT_ENV_DELAY in a run', () => {
  const session: VaultSession = {
    login: { token: 'hvs.fake', ttlSeconds: 0, renewable: false, identity: 'a fake login' },
    http: {} as VaultSession['http'],
    api: {
      read: async () => ({ data: { k: 'v' } }),
      write: async () => ({ data: {} }),
      decrypt: async () => [],
    },
  };
  const env = {
    PATH: '/usr/bin:/bin',
    VAULT_ADDR: 'http://127.0.0.1:1',
    VAULT_AUTH_METHOD: 'token',
    VAULT_TOKEN: 't',
    X: 'vault:secret/app#k',
  };

  function deps(events: string[]): RunDependencies {
    return {
      openSession: async () => (events.push('login'), session),
      renewToken: async () => 0,
      renewLease: async () => 0,
      execve: (() => {
        events.push('exec');
        throw new Error('exec');
      }) as RunDependencies['execve'],
      canExecve: () => true,
      logWrite: (line) => events.push(`log ${line.trim()}`),
      sleep: async (ms) => void events.push(`sleep ${ms}`),
    };
  }

  it('waits after resolving, before the exec, and says so', async () => {
    const events: string[] = [];
    await assert.rejects(run(['sh'], { ...env, VAULT_ENV_DELAY: '3s' }, deps(events)), /exec/);
    assert.deepEqual(
      events.map((e) => (e.startsWith('log ') ? JSON.parse(e.slice(4)).msg : e)),
      ['login', 'waiting before starting the app', 'sleep 3000', 'exec'],
    );
  });

  it('does not wait without it', async () => {
    const events: string[] = [];
    await assert.rejects(run(['sh'], env, deps(events)), /exec/);
    assert.deepEqual(events, ['login', 'exec']);
  });
});
