// The shared proxy selection (init-binary/src/contract/proxy.ts): NO_PROXY's matcher as a table,
// which variable wins, and the proxy URL's forms. Both the webhook and the init program use it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { helpText } from '../../../init-binary/src/help.ts';
import {
  ProxySettingError,
  noProxyMatches,
  parseNoProxy,
  parseProxyUrl,
  proxyConfigFromEnv,
  proxyFor,
} from '../../../init-binary/src/contract/index.ts';

// [NO_PROXY, host, port, direct?]
const TABLE: readonly (readonly [string, string, number, boolean])[] = [
  // host suffixes: the domain itself and its subdomains, on a label boundary
  ['example.com', 'example.com', 443, true],
  ['example.com', 'registry.example.com', 443, true],
  ['example.com', 'a.b.example.com', 443, true],
  ['example.com', 'notexample.com', 443, false],
  ['example.com', 'example.com.evil', 443, false],
  // .domain and *.domain: subdomains only
  ['.example.com', 'registry.example.com', 443, true],
  ['.example.com', 'example.com', 443, false],
  ['*.example.com', 'registry.example.com', 443, true],
  ['*.example.com', 'example.com', 443, false],
  // case and a trailing dot, on either side
  ['Example.COM', 'REGISTRY.example.com', 443, true],
  ['example.com.', 'registry.example.com.', 443, true],
  // ports
  ['example.com:5000', 'example.com', 5000, true],
  ['example.com:5000', 'example.com', 443, false],
  ['.example.com:443', 'r.example.com', 443, true],
  ['10.1.2.3:8200', '10.1.2.3', 8200, true],
  ['10.1.2.3:8200', '10.1.2.3', 8201, false],
  ['[::1]:8200', '[::1]', 8200, true],
  ['[::1]:8200', '::1', 8201, false],
  // IPv4 addresses and CIDRs (only hosts written as an address; no DNS lookups)
  ['10.1.2.3', '10.1.2.3', 443, true],
  ['10.1.2.3', '10.1.2.4', 443, false],
  ['10.0.0.0/8', '10.255.0.1', 443, true],
  ['10.0.0.0/8', '11.0.0.1', 443, false],
  ['192.168.1.128/25', '192.168.1.200', 80, true],
  ['192.168.1.128/25', '192.168.1.127', 80, false],
  ['0.0.0.0/0', '203.0.113.9', 80, true],
  ['10.0.0.0/8', 'ten.example', 443, false],
  // IPv6 addresses and CIDRs, in any spelling; IPv4-mapped addresses are IPv4
  ['::1', '[::1]', 443, true],
  ['[::1]', '[0:0:0:0:0:0:0:1]', 443, true],
  ['fd00::/8', '[fd12:3456::1]', 443, true],
  ['fd00::/8', '[fe80::1]', 443, false],
  ['2001:db8::/32', '[2001:db8:ffff::5]', 443, true],
  ['2001:db8::/33', '[2001:db8:8000::5]', 443, false],
  ['10.0.0.0/8', '[::ffff:10.1.1.1]', 443, true],
  ['10.0.0.0/8', '[fd00::a01:101]', 443, false],
  // loopback is not special: only what NO_PROXY says
  ['', 'localhost', 443, false],
  ['', '127.0.0.1', 443, false],
  ['localhost,127.0.0.0/8', 'localhost', 443, true],
  ['localhost,127.0.0.0/8', '127.0.0.1', 443, true],
  // * alone, or anywhere in the list
  ['*', 'anything.example', 443, true],
  ['a.example, *', 'b.example', 443, true],
  // a domain entry never matches an address and the other way round
  ['10.1.2.3', 'x.10.1.2.3.nip.io', 443, false],
  // empty entries and blanks around entries are ignored
  [' , ,a.example , ,b.example,', 'b.example', 443, true],
  [' , ,a.example , ,b.example,', 'c.example', 443, false],
  [',,,', 'a.example', 443, false],
];

describe('NO_PROXY matcher', () => {
  for (const [noProxy, host, port, direct] of TABLE) {
    it(`${JSON.stringify(noProxy)} ${direct ? 'sends' : 'does not send'} ${host}:${port} direct`, () => {
      assert.equal(noProxyMatches(parseNoProxy(noProxy), host, port), direct);
    });
  }

  for (const bad of [
    '10.0.0.0/33',
    'fd00::/129',
    'example.com/8',
    'host:0',
    'host:http',
    '[::1]:x',
    '.',
  ]) {
    it(`refuses ${JSON.stringify(bad)} naming the variable and the entry`, () => {
      assert.throws(
        () => parseNoProxy(`ok.example,${bad}`, 'no_proxy'),
        (e: unknown) =>
          e instanceof ProxySettingError &&
          e.message.startsWith('no_proxy: ') &&
          e.message.includes(JSON.stringify(bad.toLowerCase())),
      );
    });
  }
});

describe('proxy variables', () => {
  it('reads nothing when no proxy is set (NO_PROXY alone is no proxy setting)', () => {
    assert.equal(proxyConfigFromEnv({ NO_PROXY: '*', PATH: '/bin' }), undefined);
    assert.equal(proxyConfigFromEnv({ HTTPS_PROXY: '  ', http_proxy: '' }), undefined);
  });

  it('lets the lowercase variable win over the uppercase one when both are set', () => {
    const config = proxyConfigFromEnv({
      HTTPS_PROXY: 'http://upper.example:1',
      https_proxy: 'http://lower.example:2',
      HTTP_PROXY: 'http://upper.example:3',
      http_proxy: 'http://lower.example:4',
      NO_PROXY: 'upper.example',
      no_proxy: 'lower.example',
    });
    assert.equal(config?.https?.display, 'http://lower.example:2');
    assert.equal(config?.https?.variable, 'https_proxy');
    assert.equal(config?.http?.display, 'http://lower.example:4');
    assert.equal(proxyFor(config, new URL('https://lower.example/')), undefined);
    assert.equal(proxyFor(config, new URL('https://upper.example/'))?.host, 'lower.example');
  });

  it('falls back to the uppercase variable when the lowercase one is empty', () => {
    const config = proxyConfigFromEnv({ https_proxy: '', HTTPS_PROXY: 'proxy.example:3128' });
    assert.equal(config?.https?.variable, 'HTTPS_PROXY');
    assert.equal(config?.https?.port, 3128);
  });

  it('uses HTTPS_PROXY for https URLs and HTTP_PROXY for http URLs, never the other', () => {
    const onlyHttps = proxyConfigFromEnv({ HTTPS_PROXY: 'http://p.example:3128' });
    assert.equal(proxyFor(onlyHttps, new URL('http://vault.example:8200/')), undefined);
    assert.equal(proxyFor(onlyHttps, new URL('https://vault.example:8200/'))?.port, 3128);
    const onlyHttp = proxyConfigFromEnv({ HTTP_PROXY: 'http://p.example' });
    assert.equal(proxyFor(onlyHttp, new URL('https://vault.example/')), undefined);
    assert.equal(proxyFor(onlyHttp, new URL('http://vault.example/'))?.port, 80);
  });

  it('fills in the default port of the URL before matching a NO_PROXY port', () => {
    const config = proxyConfigFromEnv({ HTTPS_PROXY: 'p.example:1', NO_PROXY: 'r.example:443' });
    assert.equal(proxyFor(config, new URL('https://r.example/')), undefined);
    assert.notEqual(proxyFor(config, new URL('https://r.example:5000/')), undefined);
  });

  it('turns userinfo into Basic proxy credentials and never shows them', () => {
    const server = parseProxyUrl('HTTPS_PROXY', 'http://us%40er:p%3Ass@proxy.example:3128/');
    assert.equal(server.authorization, `Basic ${Buffer.from('us@er:p:ss').toString('base64')}`);
    assert.equal(server.display, 'http://proxy.example:3128');
    assert.ok(!JSON.stringify({ ...server, authorization: undefined }).includes('p%3Ass'));
    assert.equal(parseProxyUrl('HTTPS_PROXY', 'http://[::1]:3128').host, '::1');
  });

  it('refuses other schemes and non-URLs naming the variable, never the value', () => {
    for (const raw of [
      'socks5://user:canary-pw@p.example:1080',
      'https://user:canary-pw@p:1',
      'http://user:canary-pw@:1',
    ]) {
      assert.throws(
        () => proxyConfigFromEnv({ https_proxy: raw }),
        (e: unknown) =>
          e instanceof ProxySettingError &&
          e.message.startsWith('https_proxy') &&
          !e.message.includes('canary-pw'),
      );
    }
  });

  it('are listed by vault-inject-env --help, as kept for the app', () => {
    assert.match(
      helpText(),
      /HTTPS_PROXY, HTTP_PROXY, NO_PROXY {2}\(default: unset\)\n.*kept for CMD/,
    );
  });
});
