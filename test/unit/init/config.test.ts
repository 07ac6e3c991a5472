import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfig, parseDurationSetting } from '../../../init-binary/src/config.ts';
import { ExitCode } from '../../../init-binary/src/contract/names.ts';
import { ConfigError, exitCodeOf } from '../../../init-binary/src/errors.ts';

describe('parseConfig', () => {
  it('has Bank-Vaults defaults', () => {
    const c = parseConfig({});
    assert.equal(c.addr, undefined);
    assert.equal(c.authMethod, 'kubernetes');
    assert.equal(c.authPath, 'kubernetes');
    assert.equal(c.clientTimeoutMs, 10_000);
    assert.equal(c.transitPath, 'transit');
    assert.equal(c.saTokenFile, '/var/run/secrets/kubernetes.io/serviceaccount/token');
    assert.equal(c.ignoreMissing, false);
    assert.equal(c.daemon, false);
    assert.equal(c.logLevel, 'info');
    assert.ok(Object.isFrozen(c));
  });

  it('reads every setting', () => {
    const c = parseConfig({
      VAULT_ADDR: 'https://vault.example:8200/',
      VAULT_AUTH_METHOD: 'JWT',
      VAULT_PATH: '/jwt/',
      VAULT_ROLE: 'app',
      VAULT_NAMESPACE: 'team-a',
      VAULT_SKIP_VERIFY: 'true',
      VAULT_CACERT: '/tls/ca.crt',
      VAULT_CLIENT_TIMEOUT: '1m30s',
      VAULT_IGNORE_MISSING_SECRETS: '1',
      VAULT_ENV_PASSTHROUGH: 'VAULT_ADDR, VAULT_ROLE,,',
      VAULT_ENV_DAEMON: 'T',
      VAULT_ENV_FROM_PATH: 'secret/a, /secret/b/, secret/data/c#3',
      VAULT_TRANSIT_KEY_ID: 'k',
      VAULT_TRANSIT_PATH: 'tr',
      VAULT_LOG_LEVEL: 'warning',
      VAULT_JSON_LOG: 'true',
      KUBERNETES_SERVICE_ACCOUNT_TOKEN: '/t/token',
    });
    assert.equal(c.addr, 'https://vault.example:8200');
    assert.equal(c.authMethod, 'jwt');
    assert.equal(c.authPath, 'jwt');
    assert.equal(c.skipVerify, true);
    assert.equal(c.clientTimeoutMs, 90_000);
    assert.equal(c.ignoreMissing, true);
    assert.deepEqual([...c.passthrough], ['VAULT_ADDR', 'VAULT_ROLE']);
    assert.equal(c.daemon, true);
    assert.deepEqual(c.fromPaths, [
      { path: 'secret/a' },
      { path: 'secret/b' },
      { path: 'secret/data/c', version: 3 },
    ]);
    assert.equal(c.transitPath, 'tr');
    assert.equal(c.logLevel, 'warn');
    assert.equal(c.jsonLog, true);
    assert.equal(c.saTokenFile, '/t/token');
  });

  it('takes VAULT_TOKEN=vault:login as a request, not a token', () => {
    const c = parseConfig({ VAULT_TOKEN: 'vault:login' });
    assert.equal(c.loginPassthrough, true);
    assert.equal(c.token, undefined);
    assert.equal(parseConfig({ VAULT_TOKEN: 's.abc' }).token, 's.abc');
  });

  // vault-env 1.23.0 main.go and vault-sdk v0.12.0 vault/client.go: VAULT_TOKEN_FILE, else a
  // VAULT_TOKEN in the environment, is used before any login method. Here: when no method is set.
  it("uses the container's token when no auth method is set", () => {
    const cases: [Record<string, string>, string][] = [
      [{}, 'kubernetes'],
      [{ VAULT_TOKEN: 's.abc' }, 'token'],
      [{ VAULT_TOKEN_FILE: '/vault/.vault-token' }, 'token'],
      [{ VAULT_TOKEN: 'vault:login' }, 'kubernetes'],
      [{ VAULT_TOKEN: 'vault:login', VAULT_TOKEN_FILE: '/t' }, 'token'],
      [{ VAULT_TOKEN: ' ' }, 'kubernetes'],
      [{ VAULT_TOKEN: 's.abc', VAULT_AUTH_METHOD: 'jwt' }, 'jwt'],
      [{ VAULT_TOKEN_FILE: '/t', VAULT_AUTH_METHOD: 'kubernetes' }, 'kubernetes'],
    ];
    for (const [env, method] of cases) {
      assert.equal(parseConfig(env).authMethod, method, JSON.stringify(env));
    }
  });

  const bad: [Record<string, string>, RegExp][] = [
    [{ VAULT_ADDR: 'vault:8200' }, /VAULT_ADDR "vault:8200" must start with http/],
    [{ VAULT_ADDR: 'not a url' }, /VAULT_ADDR "not a url" is not a URL/],
    [{ VAULT_ADDR: 'https://u:p@vault' }, /must not hold credentials/],
    [
      { VAULT_AUTH_METHOD: 'ldap' },
      /VAULT_AUTH_METHOD "ldap" is not one of kubernetes, jwt, token, approle/,
    ],
    [{ VAULT_SKIP_VERIFY: 'yes' }, /VAULT_SKIP_VERIFY "yes" is not a boolean/],
    [{ VAULT_CLIENT_TIMEOUT: '0s' }, /VAULT_CLIENT_TIMEOUT "0s" is not a positive duration/],
    [{ VAULT_CLIENT_TIMEOUT: '10 seconds' }, /not a positive duration/],
    [{ VAULT_LOG_LEVEL: 'loud' }, /VAULT_LOG_LEVEL "loud"/],
  ];
  for (const [env, message] of bad) {
    it(`rejects ${JSON.stringify(env)} with exit 78`, () => {
      assert.throws(
        () => parseConfig(env),
        (err: unknown) => {
          assert.ok(err instanceof ConfigError);
          assert.match(err.message, message);
          assert.equal(exitCodeOf(err), ExitCode.CONFIG);
          return true;
        },
      );
    });
  }
});

describe('VAULT_CLIENT_TIMEOUT', () => {
  it('is capped at the longest delay a Node timer keeps (2^31-1 ms)', () => {
    assert.equal(parseConfig({ VAULT_CLIENT_TIMEOUT: '600h' }).clientTimeoutMs, 2 ** 31 - 1);
    assert.equal(parseConfig({ VAULT_CLIENT_TIMEOUT: '596h' }).clientTimeoutMs, 2_145_600_000);
  });
});

describe('parseDurationSetting', () => {
  const table: [string, number][] = [
    ['10s', 10_000],
    ['500ms', 500],
    ['1m30s', 90_000],
    ['1h', 3_600_000],
    ['2', 2000],
    ['1.5s', 1500],
  ];
  for (const [raw, ms] of table) it(raw, () => assert.equal(parseDurationSetting('X', raw), ms));
});

describe('settings that name a path: the rules of a reference path (exit 78, one line)', () => {
  // vault-env 1.23.0 main.go and vault-sdk v0.12.0 vault/client.go: VAULT_TOKEN_FILE, else a
  // VAULT_TOKEN in the environment, is used before any login method. Here: when no method is set.
  it("uses the container's token when no auth method is set", () => {
    const cases: [Record<string, string>, string][] = [
      [{}, 'kubernetes'],
      [{ VAULT_TOKEN: 's.abc' }, 'token'],
      [{ VAULT_TOKEN_FILE: '/vault/.vault-token' }, 'token'],
      [{ VAULT_TOKEN: 'vault:login' }, 'kubernetes'],
      [{ VAULT_TOKEN: 'vault:login', VAULT_TOKEN_FILE: '/t' }, 'token'],
      [{ VAULT_TOKEN: ' ' }, 'kubernetes'],
      [{ VAULT_TOKEN: 's.abc', VAULT_AUTH_METHOD: 'jwt' }, 'jwt'],
      [{ VAULT_TOKEN_FILE: '/t', VAULT_AUTH_METHOD: 'kubernetes' }, 'kubernetes'],
    ];
    for (const [env, method] of cases) {
      assert.equal(parseConfig(env).authMethod, method, JSON.stringify(env));
    }
  });

  const bad: [Record<string, string>, RegExp][] = [
    [
      { VAULT_PATH: '../../sys' },
      /^VAULT_PATH "\.\.\/\.\.\/sys": the path has an empty, "\." or "\.\." segment$/,
    ],
    [{ VAULT_PATH: 'kubernetes/../../sys' }, /^VAULT_PATH .*"\.\." segment$/],
    [{ VAULT_PATH: 'a//b' }, /^VAULT_PATH "a\/\/b": the path has an empty/],
    [{ VAULT_TRANSIT_PATH: '../sys' }, /^VAULT_TRANSIT_PATH "\.\.\/sys": the path has an empty/],
    [
      { VAULT_TRANSIT_KEY_ID: 'k?x=1' },
      /^VAULT_TRANSIT_KEY_ID "k\?x=1": the path holds "\?", "#" or "%"/,
    ],
    [{ VAULT_NAMESPACE: 'team\na' }, /^VAULT_NAMESPACE "team\\na": the path holds a space/],
    [
      { VAULT_NAMESPACE: 'team\u0000a' },
      /^VAULT_NAMESPACE "team\\u0000a": the path holds a control character$/,
    ],
    [{ VAULT_NAMESPACE: 'a/./b' }, /^VAULT_NAMESPACE "a\/\.\/b": the path has an empty/],
    [
      { VAULT_ENV_FROM_PATH: 'secret/a, secret/../sys' },
      /^VAULT_ENV_FROM_PATH "secret\/\.\.\/sys": the path has/,
    ],
    [
      { VAULT_ENV_FROM_PATH: 'secret/a%2F' },
      /^VAULT_ENV_FROM_PATH "secret\/a%2F": the path holds "\?", "#" or "%"/,
    ],
    // Bank-Vaults' `path#version`: the version is a positive whole number, as in a reference.
    [
      { VAULT_ENV_FROM_PATH: 'secret/data/a#0' },
      /^VAULT_ENV_FROM_PATH "secret\/data\/a#0": the version "0" after "#" is not a positive whole number$/,
    ],
    [
      { VAULT_ENV_FROM_PATH: 'secret/data/a#latest' },
      /^VAULT_ENV_FROM_PATH "secret\/data\/a#latest": the version "latest" after/,
    ],
    [
      { VAULT_ENV_FROM_PATH: 'secret/data/a#1#2' },
      /^VAULT_ENV_FROM_PATH "secret\/data\/a#1#2": the version "1#2" after/,
    ],
    [{ VAULT_ENV_FROM_PATH: '#1' }, /^VAULT_ENV_FROM_PATH "#1": the path is empty$/],
    [{ VAULT_PATH: 'jwt#frag' }, /^VAULT_PATH "jwt#frag": the path holds "\?", "#" or "%"/],
  ];
  for (const [env, message] of bad) {
    it(JSON.stringify(env), () => {
      assert.throws(
        () => parseConfig(env),
        (err: unknown) => {
          assert.ok(err instanceof ConfigError);
          assert.match(err.message, message);
          assert.ok(!err.message.includes('\n'), 'one line');
          assert.equal(exitCodeOf(err), ExitCode.CONFIG);
          return true;
        },
      );
    });
  }
  it('accepts nested paths and trims their slashes', () => {
    const c = parseConfig({
      VAULT_PATH: '/clusters/prod/kubernetes/',
      VAULT_NAMESPACE: 'team-a/apps',
      VAULT_TRANSIT_PATH: 'transit-apps',
      VAULT_TRANSIT_KEY_ID: 'app-key',
    });
    assert.equal(c.authPath, 'clusters/prod/kubernetes');
    assert.equal(c.namespace, 'team-a/apps');
    assert.equal(c.transitKeyId, 'app-key');
  });
});
