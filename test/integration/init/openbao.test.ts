// vault-inject-env (the BUILT bundle) against a real OpenBao dev server on loopback.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe } from 'node:test';
import { logText } from './bundle.ts';
import { openBaoSuite } from './harness.ts';

const CANARY = `canary-${process.pid}-5d1e`;

const s = openBaoSuite({
  canary: CANARY,
  setUp: async (bao) => {
    await bao.api('POST', 'secret/data/app', {
      data: { user: 'alice', password: CANARY, b64: 'aGVsbG8=' },
    });
    await bao.api('POST', 'secret/data/app', {
      data: { user: 'alice-v2', password: CANARY, b64: 'aGVsbG8=' },
    });
    await bao.api('POST', 'secret/data/db', { data: { host: 'db.internal', port: 5432 } });
    await bao.api('POST', 'kv/legacy', { data: CANARY, user: 'v1-user' });
    await bao.api('POST', 'secret/data/from/one', { data: { FROM_A: 'a1', FROM_B: 'b1' } });
    await bao.api('POST', 'secret/data/from/two', { data: { FROM_B: 'b2' } });
    // A KV v2 mount the fixtures' policy does not grant.
    await bao.api('POST', 'sys/mounts/private', { type: 'kv', options: { version: '2' } });
    await bao.api('POST', 'private/data/app', { data: { k: CANARY } });
    // A database engine with no connection: enough for OpenBao to say what its paths take.
    await bao.api('POST', 'sys/mounts/database', { type: 'database' });
    // Values execve refuses: more than 128 KiB in one variable, and a NUL byte.
    // More than execve takes in all (2 MiB with an 8 MiB stack), each variable small enough.
    await bao.api('POST', 'secret/data/huge', {
      data: Object.fromEntries(
        Array.from({ length: 64 }, (_, i) => [`HUGE_${i}`, CANARY.repeat(100_000 / CANARY.length)]),
      ),
    });
    await bao.api('POST', 'secret/data/unpassable', {
      data: { big: CANARY.repeat(Math.ceil(140_000 / CANARY.length)), nul: `${CANARY}\u0000x` },
    });
  },
});
const { it, go } = s;
const jwtEnv = (extra?: Record<string, string>): Record<string, string> => s.jwtEnv(extra);

describe('vault-inject-env against OpenBao', () => {
  it('resolves KV v2 with and without data/, versions, templates, inline, KV v1 with a field named data', async () => {
    const r = await go(
      jwtEnv({
        USER: 'vault:secret/app#user',
        USER_DATA: 'vault:secret/data/app#user',
        USER_V1: 'vault:secret/app#user#1',
        TEMPLATE: 'vault:secret/app#${.user | upper}:${.b64 | b64dec}',
        URL: 'pg://${vault:secret/app#user}@${vault:secret/db#host}:${vault:secret/db#port}/app',
        LEGACY: 'vault:kv/legacy#user',
        LEGACY_DATA: 'vault:kv/legacy#data',
        PLAIN: 'unchanged',
        VAULT_LOG_LEVEL: 'debug',
      }),
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.env['USER'], 'alice-v2');
    assert.equal(r.env['USER_DATA'], 'alice-v2');
    assert.equal(r.env['USER_V1'], 'alice');
    assert.equal(r.env['TEMPLATE'], 'ALICE-V2:hello');
    assert.equal(r.env['URL'], 'pg://alice-v2@db.internal:5432/app');
    assert.equal(r.env['LEGACY'], 'v1-user');
    assert.equal(r.env['LEGACY_DATA'], CANARY);
    assert.equal(r.env['PLAIN'], 'unchanged');
    assert.equal(r.appPid, r.pid, 'the app keeps the PID of the init program');
    assert.deepEqual(
      Object.keys(r.env).filter(
        (k) => k.startsWith('VAULT_') || k === 'KUBERNETES_SERVICE_ACCOUNT_TOKEN',
      ),
      [],
    );
  });

  it('writes: issues a PKI certificate and generates a password from a policy', async () => {
    const r = await go(
      jwtEnv({
        CERT: '>>vault:pki/issue/app#certificate#{"common_name":"app.example.test","ttl":"1h"}',
        KEY: '>>vault:pki/issue/app#private_key#{"ttl":"1h","common_name":"app.example.test"}',
        PASSWORD: 'vault:sys/policies/password/app/generate#password',
      }),
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.env['CERT'] ?? '', /^-----BEGIN CERTIFICATE-----/);
    assert.match(r.env['KEY'] ?? '', /PRIVATE KEY-----$/);
    assert.match(r.env['PASSWORD'] ?? '', /^[a-z0-9]{24}$/);
  });

  it('writes to generating endpoints: random bytes with a body, a transit data key from one write', async () => {
    const r = await go(
      jwtEnv({
        RANDOM_HEX: '>>vault:sys/tools/random/16#random_bytes#{"format":"hex"}',
        RANDOM_B64: '>>vault:sys/tools/random/32#random_bytes',
        // The same path and body: one write, so the key and its ciphertext belong together.
        DATA_KEY: '>>vault:transit/datakey/plaintext/app#plaintext',
        DATA_KEY_WRAPPED: '>>vault:transit/datakey/plaintext/app#ciphertext',
      }),
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.env['RANDOM_HEX'] ?? '', /^[0-9a-f]{32}$/);
    assert.equal(Buffer.from(r.env['RANDOM_B64'] ?? '', 'base64').length, 32);
    assert.match(r.env['DATA_KEY_WRAPPED'] ?? '', /^vault:v1:/);
    const unwrapped = (
      await s.bao.api('POST', 'transit/decrypt/app', { ciphertext: r.env['DATA_KEY_WRAPPED'] })
    )['data'] as { plaintext: string };
    assert.equal(unwrapped.plaintext, r.env['DATA_KEY']);
  });

  it('decrypts transit ciphertexts in one batch', async () => {
    const encrypt = async (text: string): Promise<string> =>
      (
        (
          await s.bao.api('POST', 'transit/encrypt/app', {
            plaintext: Buffer.from(text).toString('base64'),
          })
        )['data'] as { ciphertext: string }
      ).ciphertext;
    const [c1, c2] = [await encrypt(CANARY), await encrypt('second')];
    const r = await go(jwtEnv({ VAULT_TRANSIT_KEY_ID: 'app', T1: c1, T2: c2, T3: `x\${${c2}}` }));
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.env['T1'], CANARY);
    assert.equal(r.env['T2'], 'second');
    assert.equal(r.env['T3'], 'xsecond');
  });

  it('adds every key of the from-path paths', async () => {
    const r = await go(jwtEnv({ VAULT_ENV_FROM_PATH: 'secret/from/one,secret/from/two' }));
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.env['FROM_A'], 'a1');
    assert.equal(r.env['FROM_B'], 'b2');
  });

  it('ignore-missing skips a missing path or key, and fails without it (78)', async () => {
    const env = jwtEnv({
      GONE: 'vault:secret/nothing-here#k',
      NOKEY: 'vault:secret/app#nokey',
      OK: 'vault:secret/app#user',
    });
    const strict = await go(env, ['/bin/true']);
    assert.equal(strict.code, 78);
    assert.match(strict.stderr, /^vault-inject-env: (GONE|NOKEY): /m);
    const lenient = await go({ ...env, VAULT_IGNORE_MISSING_SECRETS: 'true' });
    assert.equal(lenient.code, 0, lenient.stderr);
    assert.equal(lenient.env['OK'], 'alice-v2');
    assert.equal(lenient.env['GONE'], undefined);
    assert.equal(lenient.env['NOKEY'], undefined);
    assert.match(
      logText(lenient.stderr),
      /warn: GONE: secret vault:secret\/nothing-here#k not found/,
    );
    // A denial is not "missing": it still fails.
    const denied = await go(
      { ...env, VAULT_IGNORE_MISSING_SECRETS: 'true', K: 'vault:transit/keys/app#name' },
      ['/bin/true'],
    );
    assert.equal(denied.code, 77, denied.stderr);
    assert.match(
      denied.stderr,
      /^vault-inject-env: K: Vault denied reading transit\/keys\/app \(403 /m,
    );
  });

  it('logs in with a token and with approle; hands its token over on VAULT_TOKEN=vault:login', async () => {
    const token = await go({
      VAULT_ADDR: s.bao.addr,
      VAULT_AUTH_METHOD: 'token',
      VAULT_TOKEN: s.bao.rootToken,
      U: 'vault:secret/app#user',
    });
    assert.equal(token.env['U'], 'alice-v2', token.stderr);
    assert.equal(token.env['VAULT_TOKEN'], undefined);
    const approle = await go({
      VAULT_ADDR: s.bao.addr,
      VAULT_AUTH_METHOD: 'approle',
      VAULT_PATH: 'approle',
      VAULT_ROLE_ID: s.fx.approle.roleId,
      VAULT_SECRET_ID: s.fx.approle.secretId,
      VAULT_TOKEN: 'vault:login',
      U: 'vault:secret/app#user',
    });
    assert.equal(approle.code, 0, approle.stderr);
    assert.equal(approle.env['U'], 'alice-v2');
    assert.equal(approle.env['VAULT_ADDR'], s.bao.addr);
    assert.match(approle.env['VAULT_TOKEN'] ?? '', /^s\.|^hvs\.|^[A-Za-z0-9._-]{20,}$/);
    assert.equal(approle.env['VAULT_ROLE_ID'], undefined);
    assert.equal(approle.env['VAULT_SECRET_ID'], undefined);
  });

  it('exits 77 for a wrong role and for a denied read', async () => {
    const role = await go(jwtEnv({ VAULT_ROLE: 'no-such-role', U: 'vault:secret/app#user' }));
    assert.equal(role.code, 77, role.stderr);
    assert.match(
      role.stderr,
      /^vault-inject-env: Vault denied the login at auth\/jwt with role "no-such-role"/m,
    );
    const read = await go(jwtEnv({ U: 'vault:transit/keys/app#name' }));
    assert.equal(read.code, 77, read.stderr);
    assert.match(
      read.stderr,
      /^vault-inject-env: U: Vault denied reading transit\/keys\/app \(403 /m,
    );
  });

  it('a denied read after a login: 77, naming the login, its policies and the path to grant', async () => {
    const jwt = await go(jwtEnv({ K: 'vault:private/data/app#k' }), ['/bin/true']);
    assert.equal(jwt.code, 77, jwt.stderr);
    assert.equal(
      jwt.stderr.trim(),
      'vault-inject-env: K: Vault denied reading private/data/app (403 1 error occurred: * permission denied) to the login as role "app" at auth/jwt (policies: app, default); its policies must grant "read" on private/data/app',
    );
    // AppRole: the role's name from the login's answer, never the role ID or the secret ID.
    const approle = await go(
      {
        VAULT_ADDR: s.bao.addr,
        VAULT_AUTH_METHOD: 'approle',
        VAULT_PATH: 'approle',
        VAULT_ROLE_ID: s.fx.approle.roleId,
        VAULT_SECRET_ID: s.fx.approle.secretId,
        W: '>>vault:transit/keys/app/rotate#name',
      },
      ['/bin/true'],
    );
    assert.equal(approle.code, 77, approle.stderr);
    assert.equal(
      approle.stderr.trim(),
      'vault-inject-env: W: Vault denied writing transit/keys/app/rotate (403 1 error occurred: * permission denied) to the login as approle role "app" at auth/approle (policies: app, default); its policies must grant "update" on transit/keys/app/rotate',
    );
    assert.ok(!approle.stderr.includes(s.fx.approle.roleId), 'the role ID reached stderr');
    assert.ok(!approle.stderr.includes(s.fx.approle.secretId), 'the secret ID reached stderr');
    // Token auth: the variable that held the token, never the token.
    const created = (await s.bao.api('POST', 'auth/token/create', { policies: ['app'] }))[
      'auth'
    ] as { client_token: string };
    const token = await go(
      {
        VAULT_ADDR: s.bao.addr,
        VAULT_AUTH_METHOD: 'token',
        VAULT_TOKEN: created.client_token,
        K: 'vault:private/data/app#k',
      },
      ['/bin/true'],
    );
    assert.equal(token.code, 77, token.stderr);
    assert.equal(
      token.stderr.trim(),
      'vault-inject-env: K: Vault denied reading private/data/app (403 1 error occurred: * permission denied) to the token of VAULT_TOKEN (token auth); its policies must grant "read" on private/data/app',
    );
    assert.ok(!token.stderr.includes(created.client_token), 'the token reached stderr');
  });

  it('a login at a path with no auth method: 77, naming the mount, its setting and the role', async () => {
    const r = await go(jwtEnv({ VAULT_PATH: 'kubernetes-typo', U: 'vault:secret/app#user' }), [
      '/bin/true',
    ]);
    assert.equal(r.code, 77, r.stderr);
    assert.equal(
      r.stderr.trim(),
      'vault-inject-env: Vault denied the login at auth/kubernetes-typo with role "app" (403 permission denied); check that auth/kubernetes-typo is an enabled auth method (VAULT_PATH) and that its role "app" (VAULT_ROLE) admits this token',
    );
  });

  it('a write to a path that is read, a read of one that is written: 78, naming the other form', async () => {
    // The root token, so that OpenBao answers for the path (405) rather than the policy (403).
    const root = {
      VAULT_ADDR: s.bao.addr,
      VAULT_AUTH_METHOD: 'token',
      VAULT_TOKEN: s.bao.rootToken,
    };
    const write = await go({ ...root, P: '>>vault:database/creds/app#password' }, ['/bin/true']);
    assert.equal(write.code, 78, write.stderr);
    assert.equal(
      write.stderr.trim(),
      'vault-inject-env: P: Vault rejected writing database/creds/app (405 1 error occurred: * unsupported operation); database/creds/app takes no write (>>vault:); to read it, use vault:database/creds/app#KEY',
    );
    const read = await go({ ...root, C: 'vault:pki/issue/app#certificate' }, ['/bin/true']);
    assert.equal(read.code, 78, read.stderr);
    assert.equal(
      read.stderr.trim(),
      'vault-inject-env: C: Vault rejected reading pki/issue/app (405 1 error occurred: * unsupported operation); pki/issue/app takes no read (vault:); to write to it, use >>vault:pki/issue/app#KEY',
    );
  });

  it('exits 69 within the client timeout when Vault is unreachable', async () => {
    const started = Date.now();
    const r = await go(
      jwtEnv({
        VAULT_ADDR: 'http://127.0.0.1:9',
        VAULT_CLIENT_TIMEOUT: '2s',
        U: 'vault:secret/app#user',
      }),
    );
    assert.equal(r.code, 69, r.stderr);
    assert.ok(Date.now() - started < 2000 + 1500, `took ${Date.now() - started} ms`);
    assert.match(r.stderr, /unreachable within 2s .*ECONNREFUSED/);
  });

  it('exits 127 for a missing command, 78 for a bad reference, 126 for a file it cannot execute', async () => {
    const missing = await go(jwtEnv({ U: 'vault:secret/app#user' }), ['no-such-command']);
    assert.equal(missing.code, 127);
    assert.equal(
      missing.stderr.trim(),
      'vault-inject-env: command "no-such-command" not found in PATH',
    );
    const bad = await go(jwtEnv({ U: 'vault:secret/app#${.user | sha1}' }), ['/bin/true']);
    assert.equal(bad.code, 78);
    assert.equal(
      bad.stderr.trim(),
      'vault-inject-env: U: unknown template function "sha1" (known: b64enc, b64dec, upper, lower, trim, default, quote, replace, title, trimPrefix, trimSuffix, urlquery, sha256sum)',
    );
    const noExec = join(s.tmp, 'not-executable');
    writeFileSync(noExec, '#!/bin/sh\n', { mode: 0o644 });
    const notExecutable = await go(jwtEnv({ U: 'vault:secret/app#user' }), [noExec]);
    assert.equal(notExecutable.code, 126);
    assert.equal(
      notExecutable.stderr.trim(),
      `vault-inject-env: command "${noExec}" is not executable`,
    );
  });

  it('passes the app its exit code; daemon mode keeps it as a child and passes it too', async () => {
    const exec = await go(jwtEnv({ U: 'vault:secret/app#user' }), ['/bin/sh', '-c', 'exit 42']);
    assert.equal(exec.code, 42);
    const daemon = await go(jwtEnv({ VAULT_ENV_DAEMON: 'true', U: 'vault:secret/app#user' }), [
      '/bin/sh',
      '-c',
      'echo "PID=$$"; env; exit 3',
    ]);
    assert.equal(daemon.code, 3, daemon.stderr);
    assert.equal(daemon.env['U'], 'alice-v2');
    assert.notEqual(daemon.appPid, daemon.pid);
    assert.deepEqual(
      Object.keys(daemon.env).filter((k) => k.startsWith('VAULT_')),
      [],
    );
  });

  it('keeps NODE_OPTIONS and LD_PRELOAD away from its own runtime and gives them to the app', async () => {
    const r = await go(
      jwtEnv({
        NODE_OPTIONS: '--require /nonexistent.js',
        LD_PRELOAD: '/nonexistent.so',
        U: 'vault:secret/app#user',
      }),
      ['/usr/bin/env'],
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.env['NODE_OPTIONS'], '--require /nonexistent.js');
    assert.equal(r.env['LD_PRELOAD'], '/nonexistent.so');
  });

  it('a value execve would refuse (over 128 KiB, a NUL byte): 78 naming the variable, not an abort', async () => {
    for (const [key, why] of [
      ['big', /^vault-inject-env: BIG: its value is \d+ bytes; Linux passes at most 131067 bytes/m],
      ['nul', /^vault-inject-env: BIG: its value holds a NUL byte/m],
    ] as const) {
      for (const daemon of ['false', 'true']) {
        const r = await go(
          jwtEnv({ BIG: `vault:secret/unpassable#${key}`, VAULT_ENV_DAEMON: daemon }),
          ['/usr/bin/env'],
        );
        assert.equal(r.code, 78, `${key} daemon=${daemon}: ${r.stderr}`);
        assert.match(r.stderr, why);
        assert.equal(r.stdout, '', 'the app did not run');
      }
    }
  });

  it('an environment larger than execve takes in all: 78 naming the largest variable, not an abort', async () => {
    for (const daemon of ['false', 'true']) {
      const r = await go(jwtEnv({ VAULT_ENV_FROM_PATH: 'secret/huge', VAULT_ENV_DAEMON: daemon }), [
        '/usr/bin/env',
      ]);
      assert.equal(r.code, 78, `daemon=${daemon}: ${r.stderr}`);
      assert.match(
        r.stderr,
        /^vault-inject-env: the app's environment and arguments take \d+ bytes; Linux passes at most \d+ to a program \(a quarter of the stack size limit\); the largest variable is HUGE_\d+ \(\d+ bytes\)$/m,
      );
      assert.equal(r.stdout, '', 'the app did not run');
    }
  });

  it('gives the app its own VAULT_INJECT_HIDDEN_* variables under their own names', async () => {
    const r = await go(
      jwtEnv({
        VAULT_INJECT_HIDDEN_FLAG: 'mine',
        VAULT_INJECT_HIDDEN_: 'bare prefix',
        FLAG: 'other',
        LD_BIND_NOW: '',
        U: 'vault:secret/app#user',
      }),
      ['/usr/bin/env'],
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.env['VAULT_INJECT_HIDDEN_FLAG'], 'mine');
    assert.equal(r.env['VAULT_INJECT_HIDDEN_'], 'bare prefix');
    assert.equal(r.env['FLAG'], 'other');
    assert.equal(r.env['LD_BIND_NOW'], '');
    assert.equal(r.env['U'], 'alice-v2');
  });
});
