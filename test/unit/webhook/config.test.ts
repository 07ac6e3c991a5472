// Flags and environment, parsed once; docs/configuration.md lists every flag with its variable.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import {
  FLAG_SECTIONS,
  FLAGS,
  type FlagSpec,
  parseConfig,
  parseDuration,
  parseListen,
  readFlags,
} from '../../../webhook/src/config.ts';

describe('config', () => {
  it('docs/configuration.md lists every flag, its variable and its default', () => {
    const doc = readFileSync(new URL('../../../docs/configuration.md', import.meta.url), 'utf8');
    for (const f of FLAGS) {
      const row = doc.split('\n').find((l) => l.startsWith(`| \`--${f.flag}\` |`));
      assert.ok(row, `--${f.flag} is not documented`);
      assert.ok(row.includes(`\`${f.env}\``), `--${f.flag}: variable ${f.env} not documented`);
      const alias = (f as FlagSpec).envAlias;
      if (alias !== undefined)
        assert.ok(row.includes(`\`${alias}\``), `--${f.flag}: variable ${alias} not documented`);
      if (f.default !== '')
        assert.ok(row.includes(`\`${f.default}\``), `--${f.flag}: default not documented`);
    }
  });

  it('--help groups every flag exactly once', () => {
    const grouped = FLAG_SECTIONS.flatMap((s) => s.flags.map((f) => f.flag));
    assert.deepEqual([...grouped].sort(), FLAGS.map((f) => f.flag).sort());
  });

  it('flags win over the environment, which wins over defaults', () => {
    const { flags } = readFlags(['--auth-path', 'from-flag', '--self-signed'], {
      VAULT_INJECT_AUTH_PATH: 'from-env',
      VAULT_ADDR: 'https://vault.example:8200',
    });
    const config = parseConfig(flags);
    assert.equal(config.injection.authPath, 'from-flag');
    assert.equal(config.injection.vaultAddr, 'https://vault.example:8200');
    assert.equal(config.server.selfSigned, true);
    assert.deepEqual(config.server.listen, { host: '0.0.0.0', port: 8443 });
    assert.ok(Object.isFrozen(config) && Object.isFrozen(config.injection));
  });

  const bad: [string, string[], RegExp][] = [
    ['an unknown flag', ['--nope=1'], /unknown flag --nope/],
    ['no TLS', [], /--tls-cert-file/],
    [
      'a bad duration',
      ['--self-signed', '--request-deadline=soon'],
      /--request-deadline: "soon" is not a duration/,
    ],
    [
      'a bad delivery',
      ['--self-signed', '--delivery=ftp'],
      /--delivery: "ftp" is not one of emptydir, image/,
    ],
    ['a bad address', ['--self-signed', '--listen=8443'], /--listen: "8443" is not HOST:PORT/],
    [
      'a bad Vault address',
      ['--self-signed', '--vault-addr=vault'],
      /--vault-addr: "vault" is not an http\(s\) URL/,
    ],
    [
      'a registry timeout as long as the deadline',
      ['--self-signed', '--registry-timeout=8s'],
      /--registry-timeout \(8000 ms\) must be shorter than --request-deadline \(8000 ms\)/,
    ],
    [
      'a bad failure policy',
      ['--self-signed', '--registry-failure-policy=ignore'],
      /--registry-failure-policy: "ignore" is not one of deny, admit/,
    ],
    [
      'a bad platform',
      ['--self-signed', '--registry-platform=arm64'],
      /--registry-platform: "arm64" is not os\/architecture/,
    ],
    [
      'a deadline of 0',
      ['--self-signed', '--request-deadline=0s'],
      /--request-deadline: must be more than 0 and below 30s/,
    ],
    [
      'a deadline the API server never waits for',
      ['--self-signed', '--request-deadline=30s'],
      /--request-deadline: must be more than 0 and below 30s/,
    ],
    [
      'an allowed Vault address that is not a URL',
      ['--self-signed', '--allowed-vault-addrs=https://a.example:8200, vault.example:8200'],
      /--allowed-vault-addrs: "vault.example:8200" is not an http\(s\) URL/,
    ],
    [
      'a CA without a host',
      ['--self-signed', '--registry-ca=/etc/ca.pem'],
      /--registry-ca: "\/etc\/ca.pem" is not HOST=FILE/,
    ],
  ];
  for (const [name, argv, message] of bad) {
    it(`rejects ${name}`, () => {
      assert.throws(
        () => parseConfig(readFlags(argv, {}).flags),
        (err: Error & { code?: string }) => {
          assert.equal(err.code, 'E_CONFIG');
          assert.match(err.message, message);
          return true;
        },
      );
    });
  }

  it('names every bad flag and variable at once, with the variable a value came from', () => {
    const { flags } = readFlags(
      ['--nope', '--delivery=ftp', '--listen=8443', '--registry-ca=/etc/ca.pem', '--log-level'],
      { VAULT_INJECT_REQUEST_DEADLINE: 'soon', VAULT_INJECT_SELF_SIGNED: 'maybe' },
    );
    assert.throws(
      () => parseConfig(flags),
      (err: Error & { code?: string }) => {
        assert.equal(err.code, 'E_CONFIG');
        const lines = err.message.split('\n');
        assert.equal(lines[0], '8 problems with flags and environment variables:');
        const expected = [
          'unknown flag --nope',
          'flag --log-level needs a value',
          '--listen: "8443" is not HOST:PORT',
          '--self-signed (from VAULT_INJECT_SELF_SIGNED): "maybe" is not true or false',
          '--request-deadline (from VAULT_INJECT_REQUEST_DEADLINE): "soon" is not a duration like 5s, 1m30s, 250ms or 30 (seconds)',
          '--registry-ca: "/etc/ca.pem" is not HOST=FILE',
          '--delivery: "ftp" is not one of emptydir, image',
          'set --tls-cert-file and --tls-key-file, or --tls-auto, or --self-signed for local use',
        ];
        assert.deepEqual(
          lines
            .slice(1)
            .map((l) => l.trim())
            .sort(),
          expected.sort(),
        );
        return true;
      },
    );
  });

  it('reads the registry flags; --registry-ca repeats, its variable is a comma list', () => {
    const argv = [
      '--self-signed',
      '--registry-ca=r.example:5000=/ca/a.pem',
      '--registry-ca',
      'docker.io=/ca/b.pem',
      '--registry-plain-http=localhost:5000, 127.0.0.1:5000',
      '--registry-failure-policy=admit',
    ];
    const config = parseConfig(readFlags(argv, {}).flags);
    assert.deepEqual(config.registry, {
      timeoutMs: 2000,
      platform: 'linux/amd64',
      tagTtlMs: 60_000,
      caFiles: [
        { host: 'r.example:5000', file: '/ca/a.pem' },
        { host: 'docker.io', file: '/ca/b.pem' },
      ],
      insecureSkipVerify: [],
      plainHttp: ['localhost:5000', '127.0.0.1:5000'],
      tokenRealmSameHost: false,
      defaultDockerConfigFile: '',
      credentialProviderConfigFile: '',
      credentialProviderBinDir: '',
      failurePolicy: 'admit',
    });
    const fromEnv = parseConfig(
      readFlags(['--self-signed'], {
        VAULT_INJECT_REGISTRY_CA: 'a.example=/a.pem,b.example=/b.pem',
        VAULT_INJECT_REGISTRY_TIMEOUT: '500ms',
      }).flags,
    );
    assert.equal(fromEnv.registry.caFiles.length, 2);
    assert.equal(fromEnv.registry.timeoutMs, 500);
    assert.equal(fromEnv.registry.failurePolicy, 'deny');
  });

  it('parses durations and listen addresses', () => {
    assert.equal(parseDuration('1m30s'), 90_000);
    assert.equal(parseDuration('250ms'), 250);
    assert.equal(parseDuration('1h'), 3_600_000);
    assert.equal(parseDuration(''), undefined);
    assert.equal(parseDuration('soon'), undefined);
    // The syntax annotations and the init program's variables accept too.
    assert.equal(parseDuration('10'), 10_000); // a plain number is seconds
    assert.equal(parseDuration('1.5s'), 1500);
    assert.equal(parseDuration('2m1h'), 3_720_000);
    assert.deepEqual(parseListen('[::1]:0'), { host: '::1', port: 0 });
    assert.deepEqual(parseListen(':8080'), { host: '0.0.0.0', port: 8080 });
  });
});
