// What the BUILT bundle sends to a real OpenBao, seen by a gateway on loopback in front of it
// (gateway.ts): one read per distinct path and version, read concurrently; transit decrypted in
// one request; the mount lookup denied (by a gateway, and by OpenBao itself) and the literal path
// read; retries for 5xx only, never for a 4xx; the whole run bounded by VAULT_CLIENT_TIMEOUT; and
// node-vault sending no token of the environment's with the login.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { afterEach, describe } from 'node:test';
import { logText } from './bundle.ts';
import { openBaoSuite } from './harness.ts';
import { startGateway, type Gateway, type Seen, type Verdict } from './gateway.ts';

const CANARY = `canary-${process.pid}-r3qs`;

let gw: Gateway | undefined;
const s = openBaoSuite({
  canary: CANARY,
  setUp: async (bao) => {
    await bao.api('POST', 'secret/data/app', { data: { user: 'alice', password: CANARY } });
    await bao.api('POST', 'secret/data/app', { data: { user: 'alice-v2', password: CANARY } });
    await bao.api('POST', 'secret/data/db', { data: { host: 'db.internal', port: 5432 } });
    await bao.api('POST', 'kv/legacy', { data: CANARY, user: 'v1-user' });
    // A KV v2 mount the `app` policy grants nothing on: OpenBao itself denies its mount lookup.
    await bao.api('POST', 'sys/mounts/other', { type: 'kv', options: { version: '2' } });
    await bao.api('POST', 'other/data/app', { data: { user: 'other-user' } });
  },
  timeoutMs: 60_000,
  onFailure: () => `--- requests seen ---\n${JSON.stringify(gw?.seen, null, 1)}`,
});
const { it, go } = s;
const jwtEnv = (addr: string, extra?: Record<string, string>): Record<string, string> =>
  s.jwtEnv(extra, addr);

afterEach(async () => {
  await gw?.close();
  gw = undefined;
});

/** A fresh gateway in front of the server, deciding each request with `policy`. */
async function gateway(policy?: (req: Seen) => Verdict | Promise<Verdict>): Promise<Gateway> {
  gw = await startGateway(s.bao.addr);
  if (policy) gw.setPolicy(policy);
  return gw;
}

const isLookup = (req: Seen): boolean => req.path.startsWith('sys/internal/ui/mounts/');

async function encrypt(text: string): Promise<string> {
  const res = await s.bao.api('POST', 'transit/encrypt/app', {
    plaintext: Buffer.from(text).toString('base64'),
  });
  return (res['data'] as { ciphertext: string }).ciphertext;
}

describe('requests the init program sends to OpenBao', () => {
  it('one read per distinct path and version, all in flight at once; transit in one request', async () => {
    // The gateway holds every secret read until all four distinct ones have arrived: read one
    // after the other, the first would wait until the client timeout (69).
    const reads = new Set(['secret/data/app', 'secret/data/app?version=1', 'secret/data/db']);
    reads.add('kv/legacy');
    const arrived = new Set<string>();
    let release: () => void = () => undefined;
    const all = new Promise<void>((r) => (release = r));
    const g = await gateway(async (req): Promise<Verdict> => {
      if (req.method !== 'GET' || !reads.has(req.path)) return 'forward';
      arrived.add(req.path);
      if (arrived.size === reads.size) release();
      await all;
      return 'forward';
    });
    const [c1, c2] = [await encrypt(CANARY), await encrypt('second')];
    const r = await go(
      jwtEnv(g.addr, {
        VAULT_TRANSIT_KEY_ID: 'app',
        VAULT_CLIENT_TIMEOUT: '20s',
        A1: 'vault:secret/app#user',
        A2: 'vault:secret/app#${.user | upper}',
        A3: 'x${vault:secret/app#user}:${vault:secret/app#password}',
        // The same secret, its path written the KV v2 API way: the same read.
        A4: 'vault:secret/data/app#user',
        V3: 'vault:secret/data/app#user#1',
        V1: 'vault:secret/app#user#1',
        V2: 'u=${vault:secret/app#user#1}',
        D1: 'vault:secret/db#host',
        D2: 'pg://${vault:secret/db#host}:${vault:secret/db#port}',
        L1: 'vault:kv/legacy#user',
        L2: 'vault:kv/legacy#data',
        T1: c1,
        T2: c2,
        T3: `t=\${${c1}}`,
      }),
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.env['A1'], 'alice-v2');
    assert.equal(r.env['A2'], 'ALICE-V2');
    assert.equal(r.env['A3'], `xalice-v2:${CANARY}`);
    assert.equal(r.env['V1'], 'alice');
    assert.equal(r.env['V2'], 'u=alice');
    assert.equal(r.env['A4'], 'alice-v2');
    assert.equal(r.env['V3'], 'alice');
    assert.equal(r.env['D2'], 'pg://db.internal:5432');
    assert.equal(r.env['L1'], 'v1-user');
    assert.equal(r.env['L2'], CANARY);
    assert.equal(r.env['T1'], CANARY);
    assert.equal(r.env['T2'], 'second');
    assert.equal(r.env['T3'], `t=${CANARY}`);

    for (const path of reads) assert.equal(g.count('GET', path), 1, path);
    assert.equal(g.count('POST', 'transit/decrypt/app'), 1, 'one batch for three ciphertexts');
    assert.equal(g.count('POST', 'auth/jwt/login'), 1);
    // One mount lookup per mount (secret/ and kv/), nothing else.
    assert.equal(g.seen.filter(isLookup).length, 2);
    assert.equal(g.seen.length, reads.size + 1 + 1 + 2);
    assert.ok(g.maxOpen() >= reads.size, `at most ${g.maxOpen()} requests open at once`);
  });

  it('a gateway that denies the mount lookup: the literal path is read (KV v2 with data/, KV v1 as is)', async () => {
    const g = await gateway((req) =>
      isLookup(req) ? { status: 403, errors: ['permission denied'] } : 'forward',
    );
    const r = await go(
      jwtEnv(g.addr, {
        P: 'vault:secret/data/app#password',
        V: 'vault:secret/data/app#user#1',
        L: 'vault:kv/legacy#data',
        LU: 'vault:kv/legacy#user',
      }),
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.env['P'], CANARY);
    assert.equal(r.env['V'], 'alice');
    assert.equal(r.env['L'], CANARY, 'a KV v1 field named data is a field');
    assert.equal(r.env['LU'], 'v1-user');
    assert.ok(g.seen.filter(isLookup).length >= 1);
    assert.ok(g.seen.filter(isLookup).every((s) => s.status === 403));
    assert.equal(g.count('GET', 'secret/data/app'), 1);
    assert.equal(g.count('GET', 'secret/data/app?version=1'), 1);
    assert.equal(g.count('GET', 'kv/legacy'), 1);
  });

  it('a denied lookup and a KV v2 path without data/: 78, the line says why and what to write', async () => {
    const g = await gateway((req) =>
      isLookup(req) ? { status: 403, errors: ['permission denied'] } : 'forward',
    );
    const hint =
      'the KV version of its mount could not be detected (the lookup sys/internal/ui/mounts/secret/app was denied); on a KV v2 mount write data/ after the mount (e.g. secret/data/app) or allow reading sys/internal/ui/mounts/*';
    const missing = await go(jwtEnv(g.addr, { U: 'vault:secret/app#user' }), ['/bin/true']);
    assert.equal(missing.code, 78, missing.stderr);
    assert.equal(
      missing.stderr.trim(),
      `vault-inject-env: U: secret secret/app not found; ${hint}`,
    );
    // The literal path was read (OpenBao answers 404 for a KV v2 path without data/), once.
    assert.equal(g.count('GET', 'secret/app'), 1);
    const pinned = await go(jwtEnv(g.addr, { U: 'vault:secret/app#user#1' }), ['/bin/true']);
    assert.equal(pinned.code, 78, pinned.stderr);
    assert.equal(
      pinned.stderr.trim(),
      `vault-inject-env: U: secret/app: a version (1) needs a KV v2 mount, and ${hint}`,
    );
    // ignore-missing: the same line, as a warning, and the variable left out.
    const lenient = await go(
      jwtEnv(g.addr, { U: 'vault:secret/app#user', VAULT_IGNORE_MISSING_SECRETS: 'true' }),
    );
    assert.equal(lenient.code, 0, lenient.stderr);
    assert.equal(lenient.env['U'], undefined);
    assert.ok(logText(lenient.stderr).includes(`warn: U: secret secret/app not found; ${hint}`));
  });

  it('OpenBao denies the mount lookup (no grant on the mount): the literal read is denied too (77)', async () => {
    const g = await gateway();
    const r = await go(jwtEnv(g.addr, { O: 'vault:other/data/app#user' }), ['/bin/true']);
    assert.equal(r.code, 77, r.stderr);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /^vault-inject-env: O: Vault denied reading other\/data\/app \(403 /);
    const lookups = g.seen.filter(isLookup);
    assert.deepEqual(
      lookups.map((s) => s.status),
      [403],
      'OpenBao itself answered the lookup 403',
    );
    assert.equal(g.count('GET', 'other/data/app'), 1, 'a 403 is not retried');
  });

  it('retries a 5xx until it succeeds', async () => {
    let failures = 2;
    const g = await gateway((req) =>
      req.path === 'secret/data/db' && failures-- > 0
        ? { status: 503, errors: ['Vault is sealed'] }
        : 'forward',
    );
    const r = await go(jwtEnv(g.addr, { H: 'vault:secret/data/db#host' }));
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.env['H'], 'db.internal');
    assert.equal(g.count('GET', 'secret/data/db'), 3);
  });

  const fourxx: [number, number][] = [
    [400, 78],
    [404, 78],
    [412, 78],
    [429, 69],
  ];
  for (const [status, code] of fourxx) {
    it(`never retries a ${status} (exit ${code}, one line naming the variable and path)`, async () => {
      const g = await gateway((req) =>
        req.path === 'secret/data/db' ? { status, errors: [`answer ${status}`] } : 'forward',
      );
      const r = await go(jwtEnv(g.addr, { H: 'vault:secret/data/db#host' }), ['/bin/true']);
      assert.equal(r.code, code, r.stderr);
      assert.equal(g.count('GET', 'secret/data/db'), 1);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, /^vault-inject-env: H: .*secret\/(data\/)?db/);
    });
  }

  it('a login answered 500 is retried; a login answered 400 is not (77)', async () => {
    let failures = 1;
    const flaky = await gateway((req) =>
      req.path === 'auth/jwt/login' && failures-- > 0 ? { status: 500 } : 'forward',
    );
    const ok = await go(jwtEnv(flaky.addr, { H: 'vault:secret/data/db#host' }));
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(flaky.count('POST', 'auth/jwt/login'), 2);
    await flaky.close();
    const denied = await gateway((req) =>
      req.path === 'auth/jwt/login' ? { status: 400, errors: ['invalid role'] } : 'forward',
    );
    const r = await go(jwtEnv(denied.addr, { H: 'vault:secret/data/db#host' }), ['/bin/true']);
    assert.equal(r.code, 77, r.stderr);
    assert.equal(denied.count('POST', 'auth/jwt/login'), 1);
  });

  const unavailable: [string, Verdict, RegExp][] = [
    [
      'never answers',
      'hang',
      /Vault at http:\/\/127\.0\.0\.1:\d+ (unreachable|did not answer) within 2s/,
    ],
    ['answers 503 every time', { status: 503 }, /within 2s .*last answer 503/],
  ];
  for (const [name, verdict, line] of unavailable) {
    it(`a server that ${name}: 69 within VAULT_CLIENT_TIMEOUT, retries included`, async () => {
      const g = await gateway(() => verdict);
      const r = await go(
        jwtEnv(g.addr, { VAULT_CLIENT_TIMEOUT: '2s', H: 'vault:secret/db#host' }),
        ['/bin/true'],
      );
      assert.equal(r.code, 69, r.stderr);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, line);
      // 2s budget; the margin is the bundle's own start and exit.
      assert.ok(r.ms < 2000 + 1500, `took ${Math.round(r.ms)} ms`);
      if (verdict !== 'hang') assert.ok(g.count('POST', 'auth/jwt/login') > 1, 'retried');
    });
  }

  it('reads go on being bounded after a quick login: a read that never answers ends in 69', async () => {
    const g = await gateway((req) => (req.path.startsWith('secret/') ? 'hang' : 'forward'));
    const r = await go(
      jwtEnv(g.addr, { VAULT_CLIENT_TIMEOUT: '2s', H: 'vault:secret/data/db#host' }),
      ['/bin/true'],
    );
    assert.equal(r.code, 69, r.stderr);
    assert.match(r.stderr, /^vault-inject-env: (H: )?Vault at .* within 2s/);
    assert.ok(r.ms < 2000 + 1500, `took ${Math.round(r.ms)} ms`);
  });

  it('an answer it cannot use: 70, one line naming the variable and path, no value', async () => {
    const g = await gateway((req) =>
      req.path === 'kv/legacy' ? { status: 200, body: { data: CANARY } } : 'forward',
    );
    const r = await go(jwtEnv(g.addr, { L: 'vault:kv/legacy#user' }), ['/bin/true']);
    assert.equal(r.code, 70, r.stderr);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /^vault-inject-env: L: kv\/legacy: answer without a data object$/m);
  });

  it('an app variable named __proto__ reaches the app, resolved and as written', async () => {
    const g = await gateway();
    const env = jwtEnv(g.addr, Object.fromEntries([['__proto__', 'vault:secret/data/app#user']]));
    const r = await go(env, ['/usr/bin/env']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^__proto__=alice-v2$/m);
    const plain = await go(Object.fromEntries([['__proto__', 'as written']]), ['/usr/bin/env']);
    assert.equal(plain.code, 0, plain.stderr);
    assert.match(plain.stdout, /^__proto__=as written$/m);
  });

  it('a 200 answer that is not JSON: 70, an unexpected answer (not "not found", 78)', async () => {
    const g = await gateway((req) =>
      req.path.startsWith('secret/data/app')
        ? { status: 200, raw: `<html>${CANARY}</html>` }
        : 'forward',
    );
    const r = await go(jwtEnv(g.addr, { U: 'vault:secret/data/app#user' }), ['/bin/true']);
    assert.equal(r.code, 70, r.stderr);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(
      r.stderr,
      /^vault-inject-env: U: Vault's answer to reading secret\/data\/app is not JSON \(HTTP 200\); check that VAULT_ADDR names Vault/m,
    );
    assert.equal(g.count('GET', 'secret/data/app'), 1, 'not retried');
  });

  it('a server that echoes the credentials: the token, JWT, role ID and secret ID are redacted', async () => {
    const jwt = readFileSync(s.jwtFile, 'utf8').trim();
    // The login is real (OpenBao issues the token); the read is answered by an echoing server.
    const g = await gateway((req) =>
      req.path.startsWith('secret/') || req.path.startsWith('sys/internal/')
        ? { status: 403, echo: true }
        : req.path === 'auth/jwt/login'
          ? 'forward'
          : { status: 400, echo: true },
    );
    const read = await go(jwtEnv(g.addr, { U: 'vault:secret/data/app#user' }), ['/bin/true']);
    assert.equal(read.code, 77, read.stderr);
    assert.match(read.stderr, /permission denied: token \[redacted\] sent/);
    assert.doesNotMatch(read.stderr, /hvs\.|\bs\.[A-Za-z0-9]{16}/);
    // A login echoed back: the JWT it sent.
    const login = await go(
      jwtEnv(g.addr, { VAULT_PATH: 'kubernetes-echo', U: 'vault:secret/data/app#user' }),
      ['/bin/true'],
    );
    assert.equal(login.code, 77, login.stderr);
    assert.ok(!login.stderr.includes(jwt.slice(0, 40)), login.stderr);
    assert.match(login.stderr, /\[redacted\]/);
    // Credentials of no recognisable shape are cut out because they are known to be sent.
    const roleId = `role-${CANARY}-id`;
    const secretId = `secret-${CANARY}-id`;
    const token = `custom-${CANARY}-token`;
    const approle = await go(
      {
        VAULT_ADDR: g.addr,
        VAULT_AUTH_METHOD: 'approle',
        VAULT_PATH: 'approle-echo',
        VAULT_ROLE_ID: roleId,
        VAULT_SECRET_ID: secretId,
        U: 'vault:secret/data/app#user',
      },
      ['/bin/true'],
    );
    const tokenRun = await go(
      {
        VAULT_ADDR: g.addr,
        VAULT_AUTH_METHOD: 'token',
        VAULT_TOKEN: token,
        U: 'vault:secret/data/app#user',
      },
      ['/bin/true'],
    );
    for (const r of [approle, tokenRun]) {
      assert.equal(r.code, 77, r.stderr);
      assert.match(r.stderr, /permission denied: token .*\[redacted\]/);
      // The canary check after each test also finds none of them.
      for (const secret of [roleId, secretId, token])
        assert.ok(!r.stderr.includes(secret), r.stderr);
    }
  });

  const badPaths: [string, string, RegExp][] = [
    [
      'VAULT_PATH',
      '../../sys',
      /^vault-inject-env: VAULT_PATH "\.\.\/\.\.\/sys": the path has an empty, "\." or "\.\." segment$/,
    ],
    [
      'VAULT_NAMESPACE',
      'team\na',
      /^vault-inject-env: VAULT_NAMESPACE "team\\na": the path holds a space/,
    ],
    ['VAULT_TRANSIT_PATH', 'transit/../sys', /^vault-inject-env: VAULT_TRANSIT_PATH .* segment$/],
    [
      'VAULT_ENV_FROM_PATH',
      'secret/data/../../sys/raw',
      /^vault-inject-env: VAULT_ENV_FROM_PATH .* segment$/,
    ],
  ];
  for (const [name, value, line] of badPaths) {
    it(`${name}=${JSON.stringify(value)}: 78 and one line naming it, before any request`, async () => {
      const g = await gateway();
      const r = await go(jwtEnv(g.addr, { [name]: value, U: 'vault:secret/data/app#user' }), [
        '/bin/true',
      ]);
      assert.equal(r.code, 78, r.stderr);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr.trim(), line);
      assert.deepEqual(g.seen, [], 'nothing was sent');
    });
  }

  it('node-vault takes nothing from the environment: no VAULT_TOKEN sent with a jwt login, no VAULT_PREFIX', async () => {
    const g = await gateway();
    const r = await go(
      jwtEnv(g.addr, {
        // The root token, which could read transit/keys/app; the jwt role cannot.
        VAULT_TOKEN: s.bao.rootToken,
        VAULT_PREFIX: '/nothing-here',
        U: 'vault:secret/data/app#user',
        K: 'vault:transit/keys/app#name',
      }),
      ['/bin/true'],
    );
    assert.equal(r.code, 77, r.stderr);
    assert.match(r.stderr, /^vault-inject-env: K: Vault denied reading transit\/keys\/app \(403 /);
    const login = g.seen.find((s) => s.path === 'auth/jwt/login');
    assert.equal(login?.withToken, false, 'the login carried no token');
    assert.ok(g.seen.every((s) => !s.path.startsWith('nothing-here')));
  });
});
