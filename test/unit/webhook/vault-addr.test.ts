// The vault-addr allowlist compares addresses as the init program dials them: an address written
// another way (scheme or host case, the default port, a trailing slash, `.` segments) is the same
// address, a different port, path or scheme is not, and credentials are never allowed nor echoed.
// The annotation, a container's own VAULT_ADDR and the webhook's start-up check share the rule.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fjp from 'fast-json-patch';
import { readFlags, injectionConfig } from '../../../webhook/src/config.ts';
import type { EnvVar, Pod } from '../../../webhook/src/mutation/types.ts';
import { normalVaultAddr, vaultAddrProblem } from '../../../webhook/src/mutation/vault-addr.ts';
import { appPod, decodePatch, harness, podReview, postReview } from './helpers.ts';

const SAME: [string, string][] = [
  ['HTTPS://VAULT.Example:8200', 'https://vault.example:8200'],
  ['https://vault.example:443', 'https://vault.example'],
  ['http://vault.example:80/', 'http://vault.example'],
  ['https://vault.example:8200///', 'https://vault.example:8200'],
  ['https://vault.example/a/./b/../v1/', 'https://vault.example/a/v1'],
  ['  https://vault.example  ', 'https://vault.example'],
];
const DIFFERENT: [string, string][] = [
  ['https://vault.example:8200', 'http://vault.example:8200'],
  ['https://vault.example:8201', 'https://vault.example:8200'],
  ['https://vault.example:80', 'https://vault.example'],
  ['https://vault.example/a', 'https://vault.example/b'],
  ['https://vault.example.evil', 'https://vault.example'],
];

describe('normalVaultAddr', () => {
  for (const [a, b] of SAME) {
    it(`${JSON.stringify(a)} is the same address as ${JSON.stringify(b)}`, () => {
      assert.equal(normalVaultAddr(a), normalVaultAddr(b));
      assert.notEqual(normalVaultAddr(a), undefined);
    });
  }
  for (const [a, b] of DIFFERENT) {
    it(`${JSON.stringify(a)} is not ${JSON.stringify(b)}`, () => {
      assert.notEqual(normalVaultAddr(a), normalVaultAddr(b));
    });
  }
  it('has no normal form for what the init program refuses', () => {
    for (const v of [
      'vault.example:8200',
      'ftp://vault.example',
      'https://u:p@vault.example',
      '',
    ]) {
      assert.equal(normalVaultAddr(v), undefined, v);
    }
  });
});

describe('allowlist entries refused at start', () => {
  const start = (flags: string[]) => injectionConfig(readFlags(flags, {}).flags);
  it('a user name and password: refused, and never echoed', () => {
    const problem = vaultAddrProblem('https://admin:canary-pw-5e1@vault.example:8200');
    assert.match(
      problem ?? '',
      /^"https:\/\/\*\*\*@vault\.example:8200\/" holds a user name or password/,
    );
    assert.throws(
      () =>
        start([
          '--allowed-vault-addrs=https://vault.example:8200, https://admin:canary-pw-5e1@vault.example:8200',
        ]),
      (err: Error) => {
        assert.match(
          err.message,
          /--allowed-vault-addrs: "https:\/\/\*\*\*@vault\.example:8200\/" holds a user name or password/,
        );
        assert.ok(!err.message.includes('canary-pw-5e1'), 'the password is not in the message');
        assert.ok(!err.message.includes('admin'), 'the user name is not in the message');
        return true;
      },
    );
  });
  it('the default address with credentials is refused too', () => {
    assert.throws(
      () => start(['--vault-addr=https://u:p@vault.example']),
      /--vault-addr: "https:\/\/\*\*\*@/,
    );
  });
  it('not http(s), or with a query or fragment: refused', () => {
    for (const [v, why] of [
      ['ldap://vault.example', /is not an http\(s\) URL/],
      ['https://vault.example:8200?x=1', /has a query or fragment/],
      ['https://vault.example:8200#top', /has a query or fragment/],
    ] as const) {
      assert.throws(() => start([`--allowed-vault-addrs=${v}`]), why, v);
    }
  });
  it('an address written another way is accepted', () => {
    const c = start(['--allowed-vault-addrs=HTTPS://Vault.Example:443/']);
    assert.deepEqual(c.allowedVaultAddrs, ['HTTPS://Vault.Example:443/']);
  });
});

const pod = (annotations: Record<string, string>, env: EnvVar[] = []): Pod =>
  appPod(annotations, { env });

async function review(p: Pod, flags: Record<string, string>) {
  const h = harness(flags);
  const res = await postReview(h, podReview(p, { namespace: 'apps' }));
  const { response } = res.json();
  const ops = decodePatch(response.patch) as fjp.Operation[];
  const after = fjp.applyPatch(structuredClone(p), ops, true, false).newDocument;
  return {
    allowed: response.allowed as boolean,
    message: response.status?.message as string | undefined,
    env: after.spec.containers[0]?.env ?? [],
    logs: h.logs.join('\n'),
  };
}

describe('the allowlist through the webhook', () => {
  const flags = { 'allowed-vault-addrs': 'https://vault.example' };
  it('an annotation written another way is allowed, and the listed address is written', async () => {
    const r = await review(
      pod({ 'vault-inject.dev/vault-addr': 'HTTPS://VAULT.example:443/' }),
      flags,
    );
    assert.equal(r.allowed, true, r.message);
    assert.deepEqual(
      r.env.filter((e) => e.name === 'VAULT_ADDR'),
      [{ name: 'VAULT_ADDR', value: 'https://vault.example' }],
    );
  });
  it('a different port is denied', async () => {
    const r = await review(
      pod({ 'vault-inject.dev/vault-addr': 'https://vault.example:8443' }),
      flags,
    );
    assert.equal(r.allowed, false);
    assert.match(r.message ?? '', /is not an allowed Vault address/);
  });
  it("a container's own VAULT_ADDR gets the same comparison", async () => {
    const own = (value: string) => pod({}, [{ name: 'VAULT_ADDR', value }]);
    const same = await review(own('https://Vault.Example:443'), flags);
    assert.equal(same.allowed, true, same.message);
    const other = await review(own('http://vault.example'), flags);
    assert.equal(other.allowed, false);
    assert.match(
      other.message ?? '',
      /env VAULT_ADDR: "http:\/\/vault\.example" is not an allowed/,
    );
  });
  it('an address with credentials is denied without echoing them', async () => {
    const addr = 'https://app:canary-pw-77d@vault.example';
    const r = await review(pod({ 'vault-inject.dev/vault-addr': addr }), flags);
    assert.equal(r.allowed, false);
    assert.match(
      r.message ?? '',
      /"https:\/\/\*\*\*@vault\.example\/" is not an allowed Vault address: it holds a user name or password/,
    );
    assert.ok(!`${r.message}${r.logs}`.includes('canary-pw-77d'), 'the password is nowhere');
  });
});
