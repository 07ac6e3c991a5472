// The BUILT bundle against real OpenBao servers on loopback through an HTTP proxy written here
// (test/env/connect-proxy.ts) that counts what it carried: HTTPS Vault through CONNECT (TLS end to
// end, VAULT_CACERT still verifying), plain-HTTP Vault with absolute URIs, direct when NO_PROXY
// names Vault; the proxy variables reach the app unchanged; the proxy's password never printed.
import assert from 'node:assert/strict';
import { after, before, describe } from 'node:test';
import { startConnectProxy, type ConnectProxy } from '../../env/connect-proxy.ts';
import { openBaoSuite } from './harness.ts';

const CANARY = `canary-${process.pid}-p9x2q`;
const PROXY_PASSWORD = `proxy-pw-${process.pid}-CANARY`;

let proxy: ConnectProxy;
before(async () => {
  proxy = await startConnectProxy({ username: 'init', password: PROXY_PASSWORD });
});
after(async () => {
  await proxy?.close();
});

const noPassword = (r: { stderr: string }): void =>
  assert.ok(!r.stderr.includes(PROXY_PASSWORD), 'the proxy password reached stderr');

const tls = openBaoSuite({
  canary: CANARY,
  tls: true,
  checkRun: noPassword,
  setUp: async (bao) => {
    await bao.api('POST', 'secret/data/app', { data: { user: 'root-user', password: CANARY } });
  },
});

const hostPort = (addr: string): string => new URL(addr).host;

describe('vault-inject-env through HTTPS_PROXY (OpenBao over HTTPS)', () => {
  const env = (extra: Record<string, string>): Record<string, string> => ({
    VAULT_ADDR: tls.bao.addr,
    VAULT_CACERT: tls.bao.caFile ?? '',
    VAULT_AUTH_METHOD: 'token',
    VAULT_TOKEN: tls.bao.rootToken,
    P: 'vault:secret/data/app#password',
    ...extra,
  });

  tls.it('resolves through a CONNECT tunnel and leaves the variables to the app', async () => {
    const before = proxy.tunnels(hostPort(tls.bao.addr));
    const r = await tls.go(env({ HTTPS_PROXY: proxy.url, NO_PROXY: 'example.com,10.0.0.0/8' }));
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.env['P'], CANARY);
    assert.ok(proxy.tunnels(hostPort(tls.bao.addr)) > before, 'no CONNECT to Vault');
    assert.equal(r.env['HTTPS_PROXY'], proxy.url);
    assert.equal(r.env['NO_PROXY'], 'example.com,10.0.0.0/8');
  });

  tls.it('goes direct when NO_PROXY names Vault (lowercase no_proxy wins)', async () => {
    const cases: Record<string, string>[] = [
      { HTTPS_PROXY: proxy.url, NO_PROXY: hostPort(tls.bao.addr) },
      { https_proxy: proxy.url, NO_PROXY: 'example.com', no_proxy: '127.0.0.0/8' },
      { HTTPS_PROXY: proxy.url, NO_PROXY: '*' },
    ];
    for (const extra of cases) {
      const before = proxy.tunnels();
      const r = await tls.go(env(extra));
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.env['P'], CANARY);
      assert.equal(proxy.tunnels(), before, `through the proxy with ${JSON.stringify(extra)}`);
    }
  });

  tls.it('still verifies Vault through the tunnel (78 without the CA)', async () => {
    const r = await tls.go(env({ HTTPS_PROXY: proxy.url, VAULT_CACERT: '' }), ['/bin/true']);
    assert.equal(r.code, 78, r.stderr);
    assert.match(r.stderr, /presented a TLS certificate that could not be verified/);
  });

  tls.it('fails at once (69) naming the proxy, not its password, when it refuses', async () => {
    const wrong = proxy.url.replace(PROXY_PASSWORD, 'wrong');
    const refused = proxy.refused();
    const r = await tls.go(env({ HTTPS_PROXY: wrong, VAULT_CLIENT_TIMEOUT: '20s' }), ['/bin/true']);
    assert.equal(r.code, 69, r.stderr);
    assert.match(r.stderr, /\(proxy http:\/\/127\.0\.0\.1:\d+ answered HTTP 407 to CONNECT /);
    assert.ok(proxy.refused() > refused);
    // A refusal is not retried until the 20s budget runs out.
    assert.ok(r.ms < 10_000, `took ${Math.round(r.ms)} ms`);
  });

  tls.it('exits 78 naming the variable for a proxy it cannot use', async () => {
    const r = await tls.go(env({ HTTPS_PROXY: `socks5://u:${PROXY_PASSWORD}@h:1` }), ['/bin/true']);
    assert.equal(r.code, 78, r.stderr);
    assert.match(r.stderr, /HTTPS_PROXY: only http:\/\/ proxies are supported/);
  });
});

const plain = openBaoSuite({ canary: CANARY, checkRun: noPassword });

describe('vault-inject-env through HTTP_PROXY (OpenBao over plain HTTP)', () => {
  plain.it(
    'sends absolute URIs to the proxy, and goes direct when NO_PROXY names Vault',
    async () => {
      await plain.bao.api('POST', 'secret/data/plain', { data: { password: CANARY } });
      const env = {
        VAULT_ADDR: plain.bao.addr,
        VAULT_AUTH_METHOD: 'token',
        VAULT_TOKEN: plain.bao.rootToken,
        P: 'vault:secret/data/plain#password',
      };
      const target = hostPort(plain.bao.addr);
      const before = proxy.forwarded(target);
      const through = await plain.go({ ...env, HTTP_PROXY: proxy.url, HTTPS_PROXY: 'http://h:1' });
      assert.equal(through.code, 0, through.stderr);
      assert.equal(through.env['P'], CANARY);
      assert.ok(proxy.forwarded(target) > before, 'no request through the proxy');

      const beforeDirect = proxy.forwarded();
      const direct = await plain.go({ ...env, HTTP_PROXY: proxy.url, NO_PROXY: target });
      assert.equal(direct.code, 0, direct.stderr);
      assert.equal(direct.env['P'], CANARY);
      assert.equal(proxy.forwarded(), beforeDirect, 'went through the proxy');
    },
  );
});
