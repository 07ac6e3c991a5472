// The init settings behind Bank-Vaults' annotations, run by the BUILT bundle against a real
// OpenBao (a recording gateway in front, gateway.ts): transit-batch-size (vault-sdk 0.12.0
// injector.go paginates the decrypts: groups of N, in order), vault-env-delay (vault-env 1.23.0
// main.go: the wait comes after the secrets are resolved, before the app starts), log-level and
// enable-json-log (VAULT_LOG_LEVEL, VAULT_JSON_LOG).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { afterEach, describe, it as nodeIt } from 'node:test';
import { promisify } from 'node:util';
import { bankVaults } from '../../../scripts/bench/proc.ts';
import { openBaoSuite } from './harness.ts';
import { startGateway, type Gateway } from './gateway.ts';

const CANARY = `canary-${process.pid}-bv5e`;

let gw: Gateway | undefined;
const s = openBaoSuite({
  canary: CANARY,
  setUp: async (bao) => {
    await bao.api('POST', 'secret/data/app', { data: { user: 'alice', password: CANARY } });
  },
  timeoutMs: 60_000,
  onFailure: () => `--- requests seen ---\n${JSON.stringify(gw?.seen, null, 1)}`,
});
const { it, go } = s;

afterEach(async () => {
  await gw?.close();
  gw = undefined;
});

async function encrypt(text: string): Promise<string> {
  const res = await s.bao.api('POST', 'transit/encrypt/app', {
    plaintext: Buffer.from(text).toString('base64'),
  });
  return (res['data'] as { ciphertext: string }).ciphertext;
}

describe('Bank-Vaults settings of the init program against OpenBao', () => {
  for (const [size, calls] of [
    ['2', 3],
    ['5', 1],
    ['1', 5],
  ] as const) {
    it(`VAULT_TRANSIT_BATCH_SIZE=${size}: five ciphertexts in ${calls} decrypt call(s), each value right`, async () => {
      gw = await startGateway(s.bao.addr);
      const plain = [CANARY, 'two', 'three', 'four', 'five'];
      const env: Record<string, string> = {};
      for (const [i, p] of plain.entries()) env[`T${i}`] = await encrypt(p);
      const r = await go(
        s.jwtEnv({ ...env, VAULT_TRANSIT_KEY_ID: 'app', VAULT_TRANSIT_BATCH_SIZE: size }, gw.addr),
      );
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(
        plain.map((_, i) => r.env[`T${i}`]),
        plain,
      );
      assert.equal(gw.count('POST', 'transit/decrypt/app'), calls);
    });
  }

  // Bank-Vaults' own vault-env (scripts/components/bank-vaults.sh), where it is built: the same
  // environment, the same decrypt calls and values.
  const peer = bankVaults('vault-env');
  const besides = peer.path === undefined ? nodeIt.skip : it;
  besides(
    "VAULT_TRANSIT_BATCH_SIZE=2 beside Bank-Vaults' vault-env: the same three calls",
    async () => {
      const program = peer.path ?? '';
      const plain = ['one', 'two', 'three', 'four', 'five'];
      const refs: Record<string, string> = {};
      for (const [i, p] of plain.entries()) refs[`T${i}`] = await encrypt(p);
      const calls: number[] = [];
      for (const side of ['ours', 'theirs'] as const) {
        gw = await startGateway(s.bao.addr);
        const env = s.jwtEnv(
          {
            ...refs,
            VAULT_TRANSIT_KEY_ID: 'app',
            VAULT_TRANSIT_PATH: 'transit',
            VAULT_TRANSIT_BATCH_SIZE: '2',
            PATH: '/usr/bin:/bin',
          },
          gw.addr,
        );
        let printed: string;
        if (side === 'ours') {
          const r = await go(env);
          assert.equal(r.code, 0, r.stderr);
          printed = plain.map((_, i) => `T${i}=${r.env[`T${i}`]}`).join('\n');
        } else {
          const r = await promisify(execFile)(program, ['/bin/sh', '-c', 'env'], { env });
          printed = r.stdout;
        }
        for (const [i, p] of plain.entries())
          assert.match(printed, new RegExp(`^T${i}=${p}$`, 'm'));
        // node-vault writes with POST, Vault's Go client with PUT: the same call.
        calls.push(
          gw.count('POST', 'transit/decrypt/app') + gw.count('PUT', 'transit/decrypt/app'),
        );
        await gw.close();
        gw = undefined;
      }
      assert.deepEqual(calls, [3, 3]);
    },
  );

  it('VAULT_ENV_DELAY=1500ms: the secrets are read, then the app starts that much later', async () => {
    gw = await startGateway(s.bao.addr);
    const started = Date.now();
    const r = await go(
      s.jwtEnv({ U: 'vault:secret/app#user', VAULT_ENV_DELAY: '1500ms' }, gw.addr),
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.env['U'], 'alice');
    assert.ok(Date.now() - started >= 1500, 'the app started before the delay was over');
    assert.equal(r.env['VAULT_ENV_DELAY'], undefined, 'the setting reached the app');
    const line = r.stderr.split('\n').find((l) => l.includes('waiting before starting the app'));
    assert.ok(line, r.stderr);
    assert.deepEqual(
      { ms: JSON.parse(line).ms, setting: JSON.parse(line).setting },
      { ms: 1500, setting: 'VAULT_ENV_DELAY' },
    );
    assert.equal(gw.count('GET', 'secret/data/app'), 1);
  });

  it('VAULT_LOG_LEVEL=debug with VAULT_JSON_LOG=false: text lines; warn: no info line', async () => {
    const text = await go(
      s.jwtEnv({ U: 'vault:secret/app#user', VAULT_LOG_LEVEL: 'debug', VAULT_JSON_LOG: 'false' }),
    );
    assert.equal(text.code, 0, text.stderr);
    const lines = text.stderr.trim().split('\n');
    assert.ok(lines.length > 1, text.stderr);
    for (const l of lines) assert.match(l, /^vault-inject-env: (debug|info|warn|error): /);
    assert.ok(lines.some((l) => l.startsWith('vault-inject-env: debug: ')));

    const quiet = await go(
      s.jwtEnv({ U: 'vault:secret/app#user', VAULT_LOG_LEVEL: 'WARN', VAULT_ENV_DELAY: '10ms' }),
    );
    assert.equal(quiet.code, 0, quiet.stderr);
    assert.equal(quiet.stderr.trim(), '', 'an info line at level warn');

    const json = await go(s.jwtEnv({ U: 'vault:secret/app#user', VAULT_ENV_DELAY: '10ms' }));
    const info = json.stderr.trim().split('\n');
    assert.equal(JSON.parse(info[0] ?? '').level, 'info', json.stderr);
  });
});
