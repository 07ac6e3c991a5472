// The registry client's HTTP layer (createNodeTransport) with a proxy: servers on loopback stand in
// for a registry (plain HTTP and HTTPS) and test/env/connect-proxy.ts for the proxy. Plain HTTP
// goes to the proxy with the absolute URI; HTTPS through one CONNECT tunnel per keep-alive
// connection, reused; NO_PROXY's hosts go direct; a refusal names the proxy, not its password.
import assert from 'node:assert/strict';
import http from 'node:http';
import https from 'node:https';
import { after, before, describe, it } from 'node:test';
import { proxyConfigFromEnv } from '../../../init-binary/src/contract/index.ts';
import {
  createNodeTransport,
  type HttpRequest,
  type NodeTransport,
} from '../../../webhook/src/registry/oci/transport.ts';
import { selfSignedKeyPair } from '../../../webhook/src/tls/certificates.ts';
import { startConnectProxy, type ConnectProxy } from '../../env/connect-proxy.ts';

const PASSWORD = 'transport-CANARY-pw';

function get(url: string): HttpRequest {
  return {
    method: 'GET',
    url: new URL(url),
    headers: { accept: 'application/json' },
    signal: AbortSignal.timeout(5000),
    maxBytes: 1024,
  };
}

function listen(server: http.Server): Promise<string> {
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      resolve(`127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`);
    }),
  );
}

describe('registry transport through a proxy', () => {
  let proxy: ConnectProxy;
  let plainHost: string;
  let tlsHost: string;
  let ca: string;
  const seen: { host?: string; proxyAuth?: string }[] = [];
  const transports: NodeTransport[] = [];
  const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    seen.push({ host: req.headers.host, proxyAuth: req.headers['proxy-authorization'] });
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
  };
  const plain = http.createServer(handler);
  let secure: https.Server;

  const transport = (env: Record<string, string>): NodeTransport => {
    const t = createNodeTransport({
      hosts: { [tlsHost]: { ca } },
      ...(proxyConfigFromEnv(env) ? { proxy: proxyConfigFromEnv(env) } : {}),
    });
    transports.push(t);
    return t;
  };

  before(async () => {
    proxy = await startConnectProxy({ username: 'reg', password: PASSWORD });
    const pair = await selfSignedKeyPair();
    ca = pair.cert;
    secure = https.createServer({ cert: pair.cert, key: pair.key }, handler);
    plainHost = await listen(plain);
    tlsHost = await listen(secure);
  });

  after(async () => {
    for (const t of transports) t.close();
    await proxy.close();
    plain.closeAllConnections();
    secure.closeAllConnections();
    await new Promise((r) => plain.close(r));
    await new Promise((r) => secure.close(r));
  });

  it('sends plain HTTP to HTTP_PROXY with the absolute URI and the Host of the registry', async () => {
    const t = transport({ HTTP_PROXY: proxy.url });
    const before = proxy.forwarded(plainHost);
    const res = await t(get(`http://${plainHost}/v2/`));
    assert.equal(res.status, 200);
    assert.equal(proxy.forwarded(plainHost), before + 1);
    assert.equal(seen.at(-1)?.host, plainHost);
    assert.equal(
      proxy.authorizations.at(-1),
      `Basic ${Buffer.from(`reg:${PASSWORD}`).toString('base64')}`,
    );
  });

  it('tunnels HTTPS with CONNECT, verifying the registry, one tunnel per kept-alive connection', async () => {
    const t = transport({ HTTPS_PROXY: proxy.url, HTTP_PROXY: 'http://unused.invalid:1' });
    const before = proxy.tunnels(tlsHost);
    for (let i = 0; i < 3; i++) assert.equal((await t(get(`https://${tlsHost}/v2/`))).status, 200);
    assert.equal(proxy.tunnels(tlsHost), before + 1);
    // The tunnel is blind: the registry never sees the proxy's credentials.
    assert.equal(seen.at(-1)?.proxyAuth, undefined);
  });

  it('goes direct for the hosts NO_PROXY names, by address, CIDR or host:port', async () => {
    for (const noProxy of ['127.0.0.1', '127.0.0.0/8', `${tlsHost},${plainHost}`, '*']) {
      const t = transport({ HTTPS_PROXY: proxy.url, HTTP_PROXY: proxy.url, NO_PROXY: noProxy });
      const [tunnels, forwarded] = [proxy.tunnels(), proxy.forwarded()];
      assert.equal((await t(get(`https://${tlsHost}/v2/`))).status, 200);
      assert.equal((await t(get(`http://${plainHost}/v2/`))).status, 200);
      assert.deepEqual([proxy.tunnels(), proxy.forwarded()], [tunnels, forwarded], noProxy);
    }
  });

  it('fails with the proxy and its answer when it refuses the tunnel, never the password', async () => {
    const t = transport({ HTTPS_PROXY: proxy.url.replace(PASSWORD, 'wrong') });
    await assert.rejects(t(get(`https://${tlsHost}/v2/`)), (e: Error) => {
      assert.match(
        e.message,
        /^proxy http:\/\/127\.0\.0\.1:\d+ answered HTTP 407 to CONNECT 127\.0\.0\.1:\d+$/,
      );
      assert.ok(!JSON.stringify(e, Object.getOwnPropertyNames(e)).includes('wrong'));
      return true;
    });
  });
});
