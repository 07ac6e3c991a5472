/**
 * A forward proxy on 127.0.0.1, as corporate proxies behave: HTTPS through `CONNECT host:port`
 * (a blind TCP tunnel) and plain HTTP requests with an absolute URI, optionally demanding Basic
 * credentials (407 without them). It counts what it served, by target, so a test can tell a
 * request that went through it from one that went direct.
 */
import http from 'node:http';
import net from 'node:net';

export interface ConnectProxy {
  readonly port: number;
  /** `http://[user:password@]127.0.0.1:PORT` */
  readonly url: string;
  /** CONNECT tunnels opened, by target (`127.0.0.1:5000`). */
  tunnels(target?: string): number;
  /** Plain HTTP requests forwarded, by target host. */
  forwarded(target?: string): number;
  /** Requests refused for missing or wrong credentials. */
  refused(): number;
  /** The Proxy-Authorization headers received (to check the credentials were sent). */
  readonly authorizations: string[];
  close(): Promise<void>;
}

export async function startConnectProxy(
  options: { username?: string; password?: string } = {},
): Promise<ConnectProxy> {
  const tunnels = new Map<string, number>();
  const forwarded = new Map<string, number>();
  const authorizations: string[] = [];
  let refused = 0;
  const sockets = new Set<net.Socket>();
  const expected =
    options.username === undefined
      ? undefined
      : `Basic ${Buffer.from(`${options.username}:${options.password ?? ''}`).toString('base64')}`;
  const allowed = (header: string | undefined): boolean => {
    if (header !== undefined) authorizations.push(header);
    if (expected === undefined || header === expected) return true;
    refused += 1;
    return false;
  };
  const bump = (map: Map<string, number>, key: string): void => {
    map.set(key, (map.get(key) ?? 0) + 1);
  };

  const server = http.createServer((req, res) => {
    if (!allowed(req.headers['proxy-authorization'])) {
      res.writeHead(407, { 'proxy-authenticate': 'Basic realm="test"' }).end();
      return;
    }
    let target: URL;
    try {
      target = new URL(req.url ?? '');
    } catch {
      res.writeHead(400).end('absolute URI expected');
      return;
    }
    bump(forwarded, target.host);
    const headers = { ...req.headers };
    delete headers['proxy-authorization'];
    const upstream = http.request(target, { method: req.method, headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', () => res.writeHead(502).end());
    req.pipe(upstream);
  });
  server.on('connect', (req: http.IncomingMessage, client: net.Socket, head: Buffer) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => undefined);
    if (!allowed(req.headers['proxy-authorization'])) {
      client.end('HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    const target = req.url ?? '';
    const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(target);
    if (!m) {
      client.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    bump(tunnels, target);
    const upstream = net.connect(Number(m[2]), m[1] ?? '', () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    sockets.add(upstream);
    upstream.on('close', () => {
      sockets.delete(upstream);
      client.destroy();
    });
    upstream.on('error', () => client.end('HTTP/1.1 502 Bad Gateway\r\n\r\n'));
    client.on('close', () => upstream.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  const userinfo =
    options.username === undefined
      ? ''
      : `${encodeURIComponent(options.username)}:${encodeURIComponent(options.password ?? '')}@`;
  const total = (map: Map<string, number>, key?: string): number =>
    key === undefined ? [...map.values()].reduce((a, b) => a + b, 0) : (map.get(key) ?? 0);
  return {
    port,
    url: `http://${userinfo}127.0.0.1:${port}`,
    tunnels: (target) => total(tunnels, target),
    forwarded: (target) => total(forwarded, target),
    refused: () => refused,
    authorizations,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
