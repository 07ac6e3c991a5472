import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfig } from '../../../init-binary/src/config.ts';
import { BANK_VAULTS_SETTINGS, INIT_SETTINGS } from '../../../init-binary/src/contract/names.ts';
import {
  HIDDEN_PREFIX,
  appEnvironment,
  findReferences,
  ignoredSettings,
  restoreHidden,
} from '../../../init-binary/src/env.ts';
import { ConfigError } from '../../../init-binary/src/errors.ts';

const every = Object.fromEntries(INIT_SETTINGS.map((name) => [name, `setting-${name}`]));

describe('restoreHidden', () => {
  it('gives the app back what the launcher hid from Node', () => {
    const env = restoreHidden({
      [`${HIDDEN_PREFIX}NODE_OPTIONS`]: '--require /app/trace.js',
      [`${HIDDEN_PREFIX}LD_PRELOAD`]: '/usr/lib/libjemalloc.so',
      PATH: '/bin',
      GONE: undefined,
    });
    assert.deepEqual(env, {
      NODE_OPTIONS: '--require /app/trace.js',
      LD_PRELOAD: '/usr/lib/libjemalloc.so',
      PATH: '/bin',
    });
  });
});

describe('findReferences', () => {
  it('parses only values with references, never the settings', () => {
    const refs = findReferences({
      A: 'vault:secret/a#k',
      B: 'plain',
      C: 'x${vault:secret/c#k}y',
      VAULT_ROLE: 'vault:looks#like-a-ref',
    });
    assert.deepEqual(
      refs.map((r) => r.name),
      ['A', 'C'],
    );
  });
  it('names the variable of a malformed reference', () => {
    assert.throws(
      () => findReferences({ DB_URL: 'vault:secret/db' }),
      (err: unknown) => err instanceof ConfigError && /^DB_URL: missing "#KEY"/.test(err.message),
    );
  });
});

describe('appEnvironment (docs/init-program.md: Settings)', () => {
  const base = { ...every, PATH: '/bin', A: 'vault:secret/a#k', KEEP: 'me' };

  it('removes every setting and sets the resolved values', () => {
    const env = appEnvironment({
      env: base,
      config: parseConfig({
        ...base,
        VAULT_ADDR: 'http://127.0.0.1:8200',
        VAULT_AUTH_METHOD: 'token',
        VAULT_SKIP_VERIFY: 'false',
        VAULT_CLIENT_TIMEOUT: '1s',
        VAULT_IGNORE_MISSING_SECRETS: 'false',
        VAULT_ENV_DAEMON: 'false',
        VAULT_LOG_LEVEL: 'info',
        VAULT_JSON_LOG: 'false',
        VAULT_ENV_PASSTHROUGH: '',
        VAULT_ENV_DELAY: '0s',
        VAULT_TRANSIT_BATCH_SIZE: '0',
        VAULT_INJECT_SECRET_FILES: '{"dir":"/vault/secrets","mode":"400","files":{}}',
        VAULT_INJECT_REFRESH_INTERVAL: '',
        VAULT_INJECT_RELOAD: '',
        VAULT_INJECT_RELOAD_SIGNAL: '',
      }),
      values: new Map([['A', 'resolved']]),
      skipped: [],
      token: 'hvs.token',
    });
    assert.deepEqual(env, { PATH: '/bin', A: 'resolved', KEEP: 'me' });
  });

  it('removes them in daemon mode too', () => {
    const input = {
      PATH: '/bin',
      VAULT_ADDR: 'http://v',
      VAULT_ENV_DAEMON: 'true',
      VAULT_ROLE: 'r',
    };
    const env = appEnvironment({
      env: input,
      config: parseConfig(input),
      values: new Map(),
      skipped: [],
      token: 't',
    });
    assert.deepEqual(env, { PATH: '/bin' });
  });

  it('keeps the passthrough names', () => {
    const input = {
      VAULT_ADDR: 'http://v:8200',
      VAULT_ROLE: 'r',
      VAULT_ENV_PASSTHROUGH: 'VAULT_ADDR',
    };
    const env = appEnvironment({
      env: input,
      config: parseConfig(input),
      values: new Map(),
      skipped: [],
      token: 't',
    });
    assert.deepEqual(env, { VAULT_ADDR: 'http://v:8200' });
  });

  it('hands over the token and connection settings on VAULT_TOKEN=vault:login', () => {
    const input = {
      VAULT_ADDR: 'http://v:8200/',
      VAULT_TOKEN: 'vault:login',
      VAULT_NAMESPACE: 'ns',
      VAULT_ROLE: 'r',
      VAULT_PATH: 'jwt',
    };
    const env = appEnvironment({
      env: input,
      config: parseConfig(input),
      values: new Map(),
      skipped: [],
      token: 'hvs.init',
    });
    assert.deepEqual(env, {
      VAULT_ADDR: 'http://v:8200',
      VAULT_TOKEN: 'hvs.init',
      VAULT_NAMESPACE: 'ns',
    });
  });

  it('leaves skipped variables out (ignore-missing)', () => {
    const input = { A: 'vault:secret/a#k', B: 'vault:secret/b#k' };
    const env = appEnvironment({
      env: input,
      config: parseConfig(input),
      values: new Map([['B', 'b']]),
      skipped: ['A'],
      token: undefined,
    });
    assert.deepEqual(env, { B: 'b' });
  });
});

// vault-env 1.23.0 main.go removes these from the app's environment (sanitizeEnvmap) and reads
// VAULT_ENV_LOG_SERVER: a Bank-Vaults manifest never hands them to the app, here neither.
describe("Bank-Vaults' settings never reach the app", () => {
  const bankVaults = Object.fromEntries(BANK_VAULTS_SETTINGS.map((n) => [n, `bv-${n}`]));
  const notOurs = BANK_VAULTS_SETTINGS.filter((n) => !(INIT_SETTINGS as string[]).includes(n));
  const input = {
    ...bankVaults,
    VAULT_ADDR: 'http://v:8200',
    VAULT_TOKEN: 'hvs.x',
    VAULT_CLIENT_TIMEOUT: '1s',
    VAULT_SKIP_VERIFY: 'false',
    VAULT_IGNORE_MISSING_SECRETS: 'false',
    VAULT_ENV_DAEMON: 'false',
    VAULT_LOG_LEVEL: 'info',
    VAULT_JSON_LOG: 'false',
    VAULT_ENV_PASSTHROUGH: '',
    VAULT_ENV_FROM_PATH: 'secret/a',
    VAULT_TRANSIT_KEY_ID: 'k',
    VAULT_TRANSIT_PATH: 'transit',
    VAULT_PATH: 'jwt',
    VAULT_NAMESPACE: 'ns',
    VAULT_AUTH_METHOD: 'token',
    VAULT_ENV_DELAY: '0s',
    VAULT_TRANSIT_BATCH_SIZE: '25',
    PATH: '/bin',
  };

  it('removes every one of them, and warns about those it does not act on', () => {
    const config = parseConfig(input);
    const env = appEnvironment({ env: input, config, values: new Map(), skipped: [], token: 't' });
    assert.deepEqual(env, { PATH: '/bin' });
    assert.ok(notOurs.includes('VAULT_REVOKE_TOKEN') && notOurs.includes('VAULT_ENV_LOG_SERVER'));
    assert.deepEqual(ignoredSettings(input, config), notOurs);
    assert.deepEqual(ignoredSettings({ PATH: '/bin' }, config), []);
  });

  it('keeps the passthrough names, unwarned', () => {
    const env = { ...input, VAULT_ENV_PASSTHROUGH: 'VAULT_REVOKE_TOKEN, VAULT_CAPATH' };
    const config = parseConfig(env);
    const out = appEnvironment({ env, config, values: new Map(), skipped: [], token: 't' });
    assert.deepEqual(out, {
      PATH: '/bin',
      VAULT_REVOKE_TOKEN: 'bv-VAULT_REVOKE_TOKEN',
      VAULT_CAPATH: 'bv-VAULT_CAPATH',
    });
    const warned = ignoredSettings(env, config);
    assert.ok(!warned.includes('VAULT_REVOKE_TOKEN') && !warned.includes('VAULT_CAPATH'));
  });

  it("on vault:login keeps the app's client settings, as vault-env does", () => {
    const env = {
      PATH: '/bin',
      VAULT_ADDR: 'http://v:8200',
      VAULT_TOKEN: 'vault:login',
      VAULT_CAPATH: '/ca',
      VAULT_MAX_RETRIES: '3',
      VAULT_REVOKE_TOKEN: 'true',
    };
    const config = parseConfig(env);
    const out = appEnvironment({ env, config, values: new Map(), skipped: [], token: 'hvs.i' });
    assert.deepEqual(out, {
      PATH: '/bin',
      VAULT_ADDR: 'http://v:8200',
      VAULT_TOKEN: 'hvs.i',
      VAULT_CAPATH: '/ca',
      VAULT_MAX_RETRIES: '3',
    });
    assert.deepEqual(ignoredSettings(env, config), ['VAULT_REVOKE_TOKEN']);
  });

  it('are never resolved as references', () => {
    assert.deepEqual(findReferences({ VAULT_ENV_LOG_SERVER: 'vault:secret/a#k' }), []);
  });
});

describe('a variable named __proto__ (any name is a name)', () => {
  // Own properties named __proto__, as process.env and JSON.parse give them.
  const withProto = (entries: [string, string][]): Record<string, string> =>
    Object.fromEntries(entries);

  it('comes through restoreHidden, hidden or not', () => {
    const env = restoreHidden(
      withProto([
        ['__proto__', 'plain'],
        ['PATH', '/bin'],
      ]),
    );
    assert.deepEqual(Object.entries(env), [
      ['__proto__', 'plain'],
      ['PATH', '/bin'],
    ]);
    const hidden = restoreHidden(withProto([[`${HIDDEN_PREFIX}__proto__`, 'hidden']]));
    assert.deepEqual(Object.entries(hidden), [['__proto__', 'hidden']]);
    assert.equal(Object.getPrototypeOf(env), Object.prototype, 'a plain object as before');
  });

  it('reaches the app as written, and resolved', () => {
    const config = parseConfig({});
    const kept = appEnvironment({
      env: withProto([
        ['__proto__', 'kept'],
        ['PATH', '/bin'],
      ]),
      config,
      values: new Map(),
      skipped: [],
      token: undefined,
    });
    assert.equal(Object.getOwnPropertyDescriptor(kept, '__proto__')?.value, 'kept');
    const env = withProto([['__proto__', 'vault:secret/app#k']]);
    assert.deepEqual(
      findReferences(env).map((r) => r.name),
      ['__proto__'],
    );
    const resolved = appEnvironment({
      env,
      config,
      values: new Map([['__proto__', 'the secret']]),
      skipped: [],
      token: undefined,
    });
    assert.deepEqual(Object.entries(resolved), [['__proto__', 'the secret']]);
  });
});
