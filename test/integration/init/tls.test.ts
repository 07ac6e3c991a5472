// The BUILT bundle against a real OpenBao dev server serving HTTPS on loopback (`-dev-tls`, its
// own CA): VAULT_CACERT, VAULT_SKIP_VERIFY, an untrusted or unusable CA (78, one line, no retries),
// and VAULT_NAMESPACE (a secret and an approle inside an OpenBao namespace).
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe } from 'node:test';
import { openBaoSuite } from './harness.ts';

const CANARY = `canary-${process.pid}-7l5n5`;

let otherCa: string;
let notPem: string;
let team: { roleId: string; secretId: string };

const s = openBaoSuite({
  canary: CANARY,
  tls: true,
  setUp: async (bao, tmp) => {
    await bao.api('POST', 'secret/data/app', { data: { user: 'root-user', password: CANARY } });

    // A CA that did not sign the server's certificate.
    await bao.api('POST', 'sys/mounts/pki', { type: 'pki' });
    const root = (await bao.api('POST', 'pki/root/generate/internal', { common_name: 'other-ca' }))[
      'data'
    ] as { certificate: string };
    otherCa = join(tmp, 'other-ca.pem');
    writeFileSync(otherCa, root.certificate);
    notPem = join(tmp, 'not-a-ca.pem');
    writeFileSync(notPem, 'not a certificate\n');

    // Namespace `team`: its own KV v2 mount, policy and approle (paths prefixed with the namespace).
    await bao.api('POST', 'sys/namespaces/team', {});
    await bao.api('POST', 'team/sys/mounts/secret', { type: 'kv', options: { version: '2' } });
    await bao.api('POST', 'team/secret/data/app', {
      data: { user: 'team-user', password: CANARY },
    });
    await bao.api('PUT', 'team/sys/policies/acl/app', {
      policy: 'path "secret/*" { capabilities = ["read"] }',
    });
    await bao.api('POST', 'team/sys/auth/approle', { type: 'approle' });
    await bao.api('POST', 'team/auth/approle/role/app', { token_policies: ['app'] });
    const roleId = (await bao.api('GET', 'team/auth/approle/role/app/role-id'))['data'] as {
      role_id: string;
    };
    const secretId = (await bao.api('POST', 'team/auth/approle/role/app/secret-id', {}))[
      'data'
    ] as {
      secret_id: string;
    };
    team = { roleId: roleId.role_id, secretId: secretId.secret_id };
  },
});
const { it, go } = s;

const rootEnv = (extra: Record<string, string>): Record<string, string> => ({
  VAULT_ADDR: s.bao.addr,
  VAULT_AUTH_METHOD: 'token',
  VAULT_TOKEN: s.bao.rootToken,
  U: 'vault:secret/app#user',
  P: 'vault:secret/data/app#password',
  ...extra,
});

describe('vault-inject-env against OpenBao over HTTPS', () => {
  it('trusts the server with VAULT_CACERT', async () => {
    assert.match(s.bao.addr, /^https:\/\/127\.0\.0\.1:\d+$/);
    const r = await go(rootEnv({ VAULT_CACERT: s.bao.caFile ?? '' }));
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.env['U'], 'root-user');
    assert.equal(r.env['P'], CANARY);
    assert.equal(r.env['VAULT_CACERT'], undefined);
  });

  it('connects without a CA when VAULT_SKIP_VERIFY=true', async () => {
    const r = await go(rootEnv({ VAULT_SKIP_VERIFY: 'true' }));
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.env['U'], 'root-user');
  });

  const refused: [string, Record<string, string>, RegExp][] = [
    [
      'no CA (Node trusts only public roots)',
      {},
      /^vault-inject-env: (U: )?Vault at https:\/\/127\.0\.0\.1:\d+ presented a TLS certificate that could not be verified while .* \(\w+\); set VAULT_CACERT to the CA that signed it$/,
    ],
    [
      'another CA',
      { VAULT_CACERT: 'OTHER' },
      /^vault-inject-env: (U: )?Vault at https:\/\/127\.0\.0\.1:\d+ presented a TLS certificate that could not be verified while .* \(\w+\); set VAULT_CACERT/,
    ],
    ['a file that holds no certificate', { VAULT_CACERT: 'NOTPEM' }, /holds no PEM certificate$/],
    ['a CA file that does not exist', { VAULT_CACERT: '/nonexistent/ca.pem' }, /ENOENT/],
  ];
  for (const [name, extra, line] of refused) {
    it(`exits 78 at once, with one line, for ${name}`, async () => {
      const caFile = extra['VAULT_CACERT'];
      const env = rootEnv({
        VAULT_CLIENT_TIMEOUT: '20s',
        ...extra,
        ...(caFile === 'OTHER' ? { VAULT_CACERT: otherCa } : {}),
        ...(caFile === 'NOTPEM' ? { VAULT_CACERT: notPem } : {}),
      });
      const r = await go(env, ['/bin/true']);
      assert.equal(r.code, 78, r.stderr);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr.trim(), line);
      // A configuration problem is not retried until the 20s budget runs out.
      assert.ok(r.ms < 10_000, `took ${Math.round(r.ms)} ms`);
    });
  }
});

describe('VAULT_NAMESPACE', () => {
  it('logs in and reads inside the namespace; hands the namespace over on vault:login', async () => {
    const r = await go({
      VAULT_ADDR: s.bao.addr,
      VAULT_CACERT: s.bao.caFile ?? '',
      VAULT_NAMESPACE: 'team',
      VAULT_AUTH_METHOD: 'approle',
      VAULT_PATH: 'approle',
      VAULT_ROLE_ID: team.roleId,
      VAULT_SECRET_ID: team.secretId,
      VAULT_TOKEN: 'vault:login',
      U: 'vault:secret/app#user',
      P: 'vault:secret/data/app#password',
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.env['U'], 'team-user');
    assert.equal(r.env['P'], CANARY);
    assert.equal(r.env['VAULT_NAMESPACE'], 'team');
    assert.equal(r.env['VAULT_ROLE_ID'], undefined);
  });

  it('reads the root namespace without it, and the namespace with it, with the same token', async () => {
    const root = await go(rootEnv({ VAULT_CACERT: s.bao.caFile ?? '' }));
    assert.equal(root.env['U'], 'root-user', root.stderr);
    const inTeam = await go(rootEnv({ VAULT_CACERT: s.bao.caFile ?? '', VAULT_NAMESPACE: 'team' }));
    assert.equal(inTeam.code, 0, inTeam.stderr);
    assert.equal(inTeam.env['U'], 'team-user');
    assert.equal(inTeam.env['VAULT_NAMESPACE'], undefined, 'settings are removed');
  });

  it('a namespace approle does not exist in the root namespace (77)', async () => {
    const r = await go(
      {
        VAULT_ADDR: s.bao.addr,
        VAULT_CACERT: s.bao.caFile ?? '',
        VAULT_AUTH_METHOD: 'approle',
        VAULT_PATH: 'approle',
        VAULT_ROLE_ID: team.roleId,
        VAULT_SECRET_ID: team.secretId,
        U: 'vault:secret/app#user',
      },
      ['/bin/true'],
    );
    assert.equal(r.code, 77, r.stderr);
    assert.match(r.stderr, /^vault-inject-env: Vault denied the login at auth\/approle/m);
  });
});
