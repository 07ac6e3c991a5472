/**
 * A gateway on 127.0.0.1 in front of a real OpenBao: it records every request the init program
 * sends (method and path, never a body or a header) and, per request, forwards it, answers it
 * itself (a status a locked-down proxy or a failing server would give), or never answers. The
 * server behind it stays the real one; only what the test chooses is changed.
 */
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/**
 * What to do with one request: forward it, answer it (`status`, with `body` or `errors` as JSON,
 * `raw` text, or `echo`: an error text quoting the request's token header and body, as a careless
 * server might), or hold it.
 */
export type Verdict =
  | 'forward'
  | 'hang'
  | {
      readonly status: number;
      readonly errors?: string[];
      readonly body?: unknown;
      readonly raw?: string;
      readonly echo?: true;
    };

export interface Seen {
  readonly method: string;
  /** The path after /v1/, with its query. */
  readonly path: string;
  /** Whether the request carried a Vault token (never the token itself). */
  readonly withToken: boolean;
  /** The status it was answered with; undefined while open. */
  status?: number;
}

export interface Gateway {
  readonly addr: string;
  /** Every request so far, in order of arrival. */
  readonly seen: Seen[];
  /** Requests of `method` to exactly `path` (query included). */
  count(method: string, path: string): number;
  /** Decides each request; a promise holds the request until it settles. */
  setPolicy(policy: (req: Seen) => Verdict | Promise<Verdict>): void;
  /** The most requests that were open at once. */
  maxOpen(): number;
  close(): Promise<void>;
}

export async function startGateway(upstream: string): Promise<Gateway> {
  const target = new URL(upstream);
  const seen: Seen[] = [];
  let policy: (req: Seen) => Verdict | Promise<Verdict> = () => 'forward';
  let open = 0;
  let maxOpen = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((req, res) => {
    const entry: Seen = {
      method: req.method ?? 'GET',
      path: (req.url ?? '').replace(/^\/v1\//, ''),
      withToken: req.headers['x-vault-token'] !== undefined,
    };
    seen.push(entry);
    maxOpen = Math.max(maxOpen, ++open);
    res.on('close', () => open--);
    void Promise.resolve(policy(entry)).then((verdict) => {
      if (verdict === 'hang') return;
      if (verdict !== 'forward') {
        void answer(req, verdict).then(([type, text]) => {
          entry.status = verdict.status;
          res.writeHead(verdict.status, { 'content-type': type });
          res.end(text);
        });
        return;
      }
      forward(target, req, (up) => {
        entry.status = up.statusCode;
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      }).on('error', () => res.destroy());
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address() as AddressInfo;
  return {
    addr: `http://127.0.0.1:${port}`,
    seen,
    count: (method, path) => seen.filter((s) => s.method === method && s.path === path).length,
    setPolicy: (p) => {
      policy = p;
    },
    maxOpen: () => maxOpen,
    close: () =>
      new Promise<void>((ok) => {
        for (const s of sockets) s.destroy();
        server.close(() => ok());
      }),
  };
}

async function answer(
  req: IncomingMessage,
  verdict: Exclude<Verdict, 'forward' | 'hang'>,
): Promise<[string, string]> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  if (verdict.raw !== undefined) return ['text/html', verdict.raw];
  if (verdict.echo) {
    const token = String(req.headers['x-vault-token'] ?? '');
    const text = `permission denied: token ${token} sent ${Buffer.concat(chunks).toString()}`;
    return ['application/json', JSON.stringify({ errors: [text] })];
  }
  return ['application/json', JSON.stringify(verdict.body ?? { errors: verdict.errors ?? [] })];
}

function forward(
  target: URL,
  req: IncomingMessage,
  onResponse: (res: IncomingMessage) => void,
): ReturnType<typeof request> {
  const up = request(
    {
      host: target.hostname,
      port: target.port,
      method: req.method,
      path: req.url,
      headers: { ...req.headers, host: target.host },
    },
    onResponse,
  );
  req.pipe(up);
  return up;
}
