// Bank-Vaults' own cases, ported as data: vault-sdk v0.12.0 injector/vault/injector_test.go
// (TestSecretInjector, TestSecretInjectorFromPath) with its setup, and vault-env 1.23.0 main.go
// behaviours (transit, vault:login, the token files, the settings it removes). Each case is
// resolved by the built bundle against a real OpenBao and, when Bank-Vaults' vault-env is built
// (scripts/components/bank-vaults.sh, as for `make bench`), by vault-env on the same references
// against the same server: the environments both exec the app with are compared, name by name.
// Where ours deliberately differs, the case says why (docs/references.md, "Beside Bank-Vaults").
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it as nodeIt } from 'node:test';
import { logText } from './bundle.ts';
import { openBaoSuite } from './harness.ts';

const CANARY = `canary-${process.pid}-b4c1`;

/** What the setup made: the transit ciphertext of "secret", a token, a file holding it. */
const made = { ciphertext: '', token: '', tokenFile: '' };

const s = openBaoSuite({
  canary: CANARY,
  timeoutMs: 60_000,
  setUp: async (bao, tmp) => {
    // injector_test.go TestSecretInjector: transit key mykey (the fixtures mount transit and
    // pki), "secret" encrypted, two versions of secret/data/account.
    await bao.api('POST', 'transit/keys/mykey', {});
    const encrypted = (
      await bao.api('POST', 'transit/encrypt/mykey', {
        plaintext: Buffer.from('secret').toString('base64'),
      })
    )['data'] as { ciphertext: string };
    made.ciphertext = encrypted.ciphertext;
    const account = (cas: number, data: Record<string, string>) =>
      bao.api('POST', 'secret/data/account', { options: { cas }, data });
    await account(0, { username: 'superusername1', password: 'secret1' });
    await account(1, { username: 'superusername', password: 'secret' });
    // TestSecretInjectorFromPath
    await bao.api('POST', 'secret/data/account1', {
      data: { password: 'secret', password2: 'secret1' },
    });
    await bao.api('POST', 'secret/data/account1', {
      data: { password: 'secret', password2: 'secret2' },
    });
    await bao.api('POST', 'secret/data/account2', {
      data: { password3: 'secret', password4: 'secret2' },
    });
    await bao.api('POST', 'secret/data/canary', { data: { value: CANARY } });
    await bao.api('PUT', 'sys/policies/acl/bank-vaults-cases', {
      policy: [
        'path "secret/*" { capabilities = ["read"] }',
        'path "transit/decrypt/mykey" { capabilities = ["update"] }',
        'path "pki/root/generate/internal" { capabilities = ["update"] }',
      ].join('\n'),
    });
    const created = (
      await bao.api('POST', 'auth/token/create', {
        policies: ['bank-vaults-cases'],
        ttl: '1h',
      })
    )['auth'] as { client_token: string };
    made.token = created.client_token;
    made.tokenFile = join(tmp, 'vault-token');
    // No newline after it: vault-env uses the file's bytes as they are (a newline makes the token
    // unusable there); ours trims white space around it.
    writeFileSync(made.tokenFile, made.token);
  },
});

/** vault-env, when built; else why not (the comparisons are skipped, saying so). */
const peer = ((): { path?: string; why: string } => {
  const r = spawnSync('scripts/components/bank-vaults.sh', ['path', 'vault-env'], {
    encoding: 'utf8',
  });
  const path = r.stdout.trim();
  return r.status === 0 && path !== '' ? { path, why: '' } : { why: r.stderr.trim() };
})();

interface Case {
  /** The upstream file and test case (or vault-env behaviour) this case is. */
  readonly upstream: string;
  /** The container's environment, beside VAULT_ADDR and the token (BASE). */
  readonly env: () => Record<string, string>;
  /** Values the app must see, from both programs (except the `differs` names). */
  readonly want?: Record<string, string> | (() => Record<string, string>);
  /** VAULT_* names the app keeps (vault:login); every other one is removed. */
  readonly kept?: readonly string[];
  /** Names that must hold one value (dynamic secrets: one write, however often named). */
  readonly same?: readonly string[];
  /** The start fails: ours exits 78 with this line; vault-env exits 1 with that one. */
  readonly fails?: { readonly ours: RegExp; readonly theirs: RegExp };
  /** Names where ours deliberately differs from vault-env, and why (docs/references.md). */
  readonly differs?: Readonly<Record<string, string>>;
}

const TOKEN_FILE_DIFFERS =
  'vault-env leaves VAULT_TOKEN_FILE to the app (it is not in its sanitizeEnvmap); ours removes it with its own settings';

const CASES: readonly Case[] = [
  {
    upstream: 'vault-sdk injector/vault/injector_test.go TestSecretInjector "success"',
    env: () => ({
      ACCOUNT_PASSWORD_1: 'vault:secret/data/account#password#1',
      ACCOUNT_PASSWORD: 'vault:secret/data/account#password',
      TRANSIT_SECRET: `>>vault:transit/decrypt/mykey#\${.plaintext | b64dec}#{"ciphertext":"${made.ciphertext}"}`,
      ROOT_CERT: '>>vault:pki/root/generate/internal#certificate',
      ROOT_CERT_CACHED: '>>vault:pki/root/generate/internal#certificate',
      INLINE_SECRET:
        'scheme://${vault:secret/data/account#username}:${vault:secret/data/account#password}@127.0.0.1:8080',
      INLINE_SECRET_EMBEDDED_TEMPLATE:
        'scheme://${vault:secret/data/account#username}:${vault:secret/data/account#${.password | urlquery}}@127.0.0.1:8080',
      INLINE_DYNAMIC_SECRET:
        '${>>vault:pki/root/generate/internal#certificate}__${>>vault:pki/root/generate/internal#certificate}',
      CANARY: 'vault:secret/data/canary#value',
    }),
    want: {
      ACCOUNT_PASSWORD_1: 'secret1',
      ACCOUNT_PASSWORD: 'secret',
      TRANSIT_SECRET: 'secret',
      INLINE_SECRET: 'scheme://superusername:secret@127.0.0.1:8080',
      INLINE_SECRET_EMBEDDED_TEMPLATE: 'scheme://superusername:secret@127.0.0.1:8080',
      CANARY,
    },
    // Upstream: ROOT_CERT equals ROOT_CERT_CACHED, and the two halves of INLINE_DYNAMIC_SECRET
    // are equal: one write of pki/root/generate/internal for all four.
    same: ['ROOT_CERT', 'ROOT_CERT_CACHED', 'INLINE_DYNAMIC_SECRET:0', 'INLINE_DYNAMIC_SECRET:1'],
  },
  {
    upstream:
      'vault-sdk injector/vault/injector_test.go TestSecretInjector "correct path but missing secret"',
    env: () => ({ SECRET: 'vault:secret/data/supersecret#password' }),
    fails: {
      ours: /^vault-inject-env: SECRET: secret vault:secret\/data\/supersecret#password not found$/,
      theirs: /path not found: secret\/data\/supersecret/,
    },
  },
  {
    upstream: 'vault-sdk injector/vault/injector_test.go TestSecretInjector "incorrect kv2 path"',
    env: () => ({ SECRET: 'vault:secret/get/data#data' }),
    fails: {
      ours: /^vault-inject-env: SECRET: secret vault:secret\/get\/data#data not found$/,
      theirs: /path not found: secret\/get\/data/,
    },
  },
  {
    upstream: 'vault-sdk injector/vault/injector_test.go TestSecretInjectorFromPath "success"',
    env: () => ({ VAULT_ENV_FROM_PATH: 'secret/data/account1' }),
    want: { password: 'secret', password2: 'secret2' },
  },
  {
    upstream:
      'vault-sdk injector/vault/injector_test.go TestSecretInjectorFromPath "success specific version"',
    env: () => ({ VAULT_ENV_FROM_PATH: 'secret/data/account1#1' }),
    want: { password: 'secret', password2: 'secret1' },
  },
  {
    upstream:
      'vault-sdk injector/vault/injector_test.go TestSecretInjectorFromPath "success multiple paths"',
    env: () => ({ VAULT_ENV_FROM_PATH: 'secret/data/account1,secret/data/account2' }),
    want: { password: 'secret', password2: 'secret2', password3: 'secret', password4: 'secret2' },
  },
  {
    upstream:
      'vault-sdk injector/vault/injector_test.go TestSecretInjectorFromPath "success multiple paths, specific version"',
    env: () => ({ VAULT_ENV_FROM_PATH: 'secret/data/account1#1,secret/data/account2' }),
    want: { password: 'secret', password2: 'secret1', password3: 'secret', password4: 'secret2' },
  },
  {
    upstream:
      'vault-sdk injector/vault/injector_test.go TestSecretInjectorFromPath "incorrect kv2 path"',
    env: () => ({ VAULT_ENV_FROM_PATH: 'secret/data/doesnotexist' }),
    fails: {
      ours: /^vault-inject-env: VAULT_ENV_FROM_PATH: secret secret\/data\/doesnotexist not found$/,
      theirs: /path not found: secret\/data\/doesnotexist/,
    },
  },
  {
    upstream:
      'vault-sdk injector/vault/injector.go InjectSecretsFromVaultPath: a version after "#" that is not a number',
    env: () => ({ VAULT_ENV_FROM_PATH: 'secret/data/account1#latest' }),
    // vault-env sends ?version=latest and fails on Vault's answer; ours refuses the setting
    // before any request (and the webhook denies the annotation).
    fails: {
      ours: /^vault-inject-env: VAULT_ENV_FROM_PATH "secret\/data\/account1#latest": the version "latest" after "#" is not a positive whole number$/,
      theirs: /failed to inject secrets from vault path/,
    },
  },
  {
    upstream:
      'vault-env main.go VAULT_TRANSIT_KEY_ID with vault-sdk vault/transit.go: a vault:v1: value, whole and inline',
    env: () => ({
      VAULT_TRANSIT_KEY_ID: 'mykey',
      VAULT_TRANSIT_PATH: 'transit',
      DECRYPTED: made.ciphertext,
      INLINE_DECRYPTED: `x-\${${made.ciphertext}}-y`,
    }),
    want: { DECRYPTED: 'secret', INLINE_DECRYPTED: 'x-secret-y' },
  },
  {
    upstream:
      'vault-sdk utils/templater (Sprig) as injector.go renders a key: the functions of docs/references.md',
    env: () => ({
      T_TITLE: 'vault:secret/data/account#${.username | trimPrefix "super" | title}',
      T_QUOTE: 'vault:secret/data/account#${.password | quote}',
      T_DEFAULT: 'vault:secret/data/account#${.missing | default "none"}',
      T_DEFAULT_FIRST: 'vault:secret/data/account#${default "none" .password}',
      T_SHA: 'vault:secret/data/account#${.password | sha256sum}',
      T_REPLACE: 'vault:secret/data/account#${.username | replace "user" "-" | upper}',
      T_SUFFIX: 'vault:secret/data/account#${.username | trimSuffix "name" | b64enc}',
      T_URL: 'x=${vault:secret/data/account#${.username | urlquery}}&y=1',
    }),
    want: {
      T_TITLE: 'Username',
      T_QUOTE: '"secret"',
      T_DEFAULT: 'none',
      T_DEFAULT_FIRST: 'secret',
      T_SHA: '2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b',
      T_REPLACE: 'SUPER-NAME',
      T_SUFFIX: Buffer.from('superuser').toString('base64'),
      T_URL: 'x=superusername&y=1',
    },
  },
  {
    upstream:
      'vault-env main.go: VAULT_TOKEN=vault:login with VAULT_TOKEN_FILE hands the token to the app',
    env: () => ({
      VAULT_TOKEN: 'vault:login',
      VAULT_TOKEN_FILE: made.tokenFile,
      A: 'vault:secret/data/account#username',
    }),
    want: () => ({ A: 'superusername', VAULT_TOKEN: made.token, VAULT_ADDR: s.bao.addr }),
    kept: ['VAULT_ADDR', 'VAULT_TOKEN'],
    differs: { VAULT_TOKEN_FILE: TOKEN_FILE_DIFFERS },
  },
  {
    upstream:
      'vault-env main.go: VAULT_TOKEN_FILE is read before VAULT_TOKEN (vault-sdk vault/client.go ClientToken)',
    env: () => ({
      VAULT_TOKEN: 'not-a-token',
      VAULT_TOKEN_FILE: made.tokenFile,
      A: 'vault:secret/data/account#username',
    }),
    want: { A: 'superusername' },
    differs: { VAULT_TOKEN_FILE: TOKEN_FILE_DIFFERS },
  },
  {
    upstream:
      'vault-env main.go sanitizeEnvmap: its settings never reach the app (VAULT_ENV_LOG_SERVER read, not removed)',
    env: () => ({
      VAULT_REVOKE_TOKEN: 'false',
      VAULT_ENV_DELAY: '0s',
      VAULT_MAX_RETRIES: '2',
      VAULT_CLI_NO_COLOR: '1',
      VAULT_RATE_LIMIT: '100',
      VAULT_ENV_LOG_SERVER: '127.0.0.1:9',
      A: 'vault:secret/data/account#username',
    }),
    want: { A: 'superusername' },
    differs: {
      VAULT_ENV_LOG_SERVER:
        'vault-env reads it (a syslog server) but leaves it to the app; ours removes it with the other vault-env settings, and warns',
    },
  },
];

/** Every run: the server, and the token (ours: token auth, as no auth method is set). */
const base = (): Record<string, string> => ({
  VAULT_ADDR: s.bao.addr,
  VAULT_TOKEN: made.token,
  // vault-env divides by it (vault-sdk injector.go paginate): the webhook always sets it.
  VAULT_TRANSIT_BATCH_SIZE: '25',
});

/** The app: a marker, then its environment NUL-separated (values may hold newlines). */
const MARK = '@@app-env@@';
const APP = ['/bin/sh', '-c', `printf '\\n${MARK}\\n'; exec /usr/bin/env -0`];

interface Ran {
  readonly code: number | null;
  readonly stderr: string;
  readonly env: Readonly<Record<string, string>>;
}

function runProgram(file: string, env: Record<string, string>): Promise<Ran> {
  const child = spawn(file, APP, {
    env: { PATH: '/usr/bin:/bin', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  return new Promise((done) => {
    child.once('exit', (code) => {
      const at = stdout.indexOf(`${MARK}\n`);
      const entries = at < 0 ? [] : stdout.slice(at + MARK.length + 1).split('\0');
      const parsed: Record<string, string> = {};
      for (const e of entries) {
        const eq = e.indexOf('=');
        if (eq > 0) parsed[e.slice(0, eq)] = e.slice(eq + 1);
      }
      done({ code, stderr, env: parsed });
    });
  });
}

async function ours(c: Case): Promise<Ran> {
  const env = { ...base(), ...c.env() };
  const r = await runProgram(`${s.bundle}/bin/vault-inject-env`, env);
  // The harness checks every recorded run's stderr for the canary.
  s.record({ pid: 0, code: r.code, stdout: '', stderr: r.stderr, env: {}, appPid: 0, ms: 0 });
  return r;
}

/** The values of `names` (NAME:i is the i-th `__` half of NAME's value). */
function sameValues(r: Ran, names: readonly string[]): string[] {
  return names.map((n) => {
    const [name = '', half] = n.split(':');
    const v = r.env[name] ?? '';
    return half === undefined ? v : (v.split('__')[Number(half)] ?? '');
  });
}

function checkOne(c: Case, r: Ran, label: string): void {
  if (c.fails) return;
  assert.equal(r.code, 0, `${label}: ${r.stderr}`);
  const want = typeof c.want === 'function' ? c.want() : (c.want ?? {});
  for (const [name, value] of Object.entries(want)) {
    if (label === 'vault-env' && c.differs?.[name]) continue;
    assert.equal(r.env[name], value, `${label}: ${name}`);
  }
  if (c.same) {
    const values = sameValues(r, c.same);
    assert.match(values[0] ?? '', /^-----BEGIN CERTIFICATE-----/, `${label}: ${c.same[0]}`);
    assert.deepEqual(new Set(values).size, 1, `${label}: ${c.same.join(', ')} differ`);
  }
}

describe("Bank-Vaults' cases against OpenBao", () => {
  for (const c of CASES) {
    s.it(`ours: ${c.upstream}`, async () => {
      const r = await ours(c);
      if (c.fails) {
        assert.equal(r.code, 78, r.stderr);
        assert.match(r.stderr.trim().split('\n').at(-1) ?? '', c.fails.ours);
        return;
      }
      checkOne(c, r, 'ours');
      // Nothing of vault-env's or ours reaches the app but what the container passed through.
      const settings = Object.keys(r.env).filter(
        (k) => k.startsWith('VAULT_') && !(c.kept ?? []).includes(k),
      );
      assert.deepEqual(settings, [], 'settings left in the app environment');
    });
  }

  s.it('ours: the vault-env settings it does not act on are named in one warning', async () => {
    const c = CASES.at(-1) as Case;
    const r = await ours(c);
    assert.equal(r.code, 0, r.stderr);
    const warning = logText(r.stderr)
      .split('\n')
      .filter((l) => l.includes('does not act on'));
    assert.equal(warning.length, 1, r.stderr);
    for (const name of ['VAULT_REVOKE_TOKEN', 'VAULT_MAX_RETRIES', 'VAULT_ENV_LOG_SERVER']) {
      assert.ok(warning[0]?.includes(name), name);
    }
    assert.ok(!warning[0]?.includes('127.0.0.1:9'), 'a value in the warning');
  });
});

describe("Bank-Vaults' cases: ours beside vault-env 1.23.0 on the same server", () => {
  for (const c of CASES) {
    const name = `same environment: ${c.upstream}`;
    if (peer.path === undefined) {
      nodeIt(name, { skip: `vault-env not available: ${peer.why}` }, () => undefined);
      continue;
    }
    const theirsPath = peer.path;
    s.it(name, async () => {
      const env = { ...base(), ...c.env() };
      const theirs = await runProgram(theirsPath, env);
      const mine = await ours(c);
      if (c.fails) {
        assert.equal(theirs.code, 1, theirs.stderr);
        assert.match(theirs.stderr, c.fails.theirs);
        assert.equal(mine.code, 78, mine.stderr);
        return;
      }
      checkOne(c, theirs, 'vault-env');
      checkOne(c, mine, 'ours');
      const skip = new Set([
        ...Object.keys(c.differs ?? {}),
        ...(c.same ?? []).map((n) => n.split(':')[0]),
      ]);
      const names = [...new Set([...Object.keys(theirs.env), ...Object.keys(mine.env)])].sort();
      for (const n of names) {
        if (skip.has(n ?? '')) continue;
        assert.equal(mine.env[n as string], theirs.env[n as string], `${n}: ours beside vault-env`);
      }
      for (const [n, why] of Object.entries(c.differs ?? {})) {
        assert.notEqual(
          mine.env[n],
          theirs.env[n],
          `${n} no longer differs (${why}): update the case`,
        );
      }
    });
  }
});
