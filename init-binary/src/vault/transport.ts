/**
 * node-vault's HTTP transport, ours: node-vault accepts a `request-promise`-shaped object, and we
 * give it one built on node:http/https. Why: (1) our settings are the only ones that count (no
 * proxy or TLS variables read from the environment behind our back: the proxy comes from config.ts
 * like every other setting), (2) every request is bound to the run's deadline, and (3) the bundle
 * does not have to load axios, which costs ~40 ms of the start-to-exec budget
 * (docs/init-program.md).
 */
import type {
  Agent as HttpAgent,
  ClientRequestArgs,
  IncomingMessage,
  RequestOptions,
  request,
} from 'node:http';
import type { AgentOptions as HttpsAgentOptions } from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { ProxyServer } from '../contract/proxy.ts';

/** What node-vault hands to the transport (see node-vault/src/index.js, `client.request`). */
export interface TransportRequest {
  readonly method: string;
  readonly uri: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly json?: unknown;
}

/** What node-vault expects back. */
export interface TransportResponse {
  readonly statusCode: number;
  readonly body: unknown;
  readonly request: { readonly path: string };
}

export type RequestFn = (req: TransportRequest) => Promise<TransportResponse>;

export interface TransportOptions {
  readonly https: boolean;
  /** PEM of the CA to trust instead of Node's bundled roots. */
  readonly ca?: string;
  readonly rejectUnauthorized: boolean;
  /** The current deadline: aborts every in-flight request when its budget is spent. */
  readonly signal: () => AbortSignal;
  /** The proxy for Vault's address (proxyFor: HTTPS_PROXY or HTTP_PROXY, unless NO_PROXY). */
  readonly proxy?: ProxyServer;
}

/** A network-level failure (no HTTP status). `code` is the system code (ECONNREFUSED, …). */
export class TransportError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'TransportError';
    this.code = code;
  }
}

/**
 * A successful status whose body is not JSON (a proxy's HTML page, a wrong address): no answer
 * Vault gives, so not "not found" either. Never retried; the body is not kept (it may hold a
 * secret).
 */
export class UnexpectedAnswerError extends Error {
  readonly code = 'E_NOT_JSON';
  readonly statusCode: number;
  constructor(statusCode: number, path: string) {
    super(`${path}: HTTP ${statusCode} with a body that is not JSON`);
    this.name = 'UnexpectedAnswerError';
    this.statusCode = statusCode;
  }
}

/**
 * OpenSSL's certificate verification results as Node reports them, and its own name check. Such a
 * failure is a configuration problem (the CA given, or the address): retrying cannot fix it.
 */
const CERTIFICATE_CODES: ReadonlySet<string> = new Set([
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_DECRYPT_CERT_SIGNATURE',
  'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY',
  'CERT_SIGNATURE_FAILURE',
  'CERT_NOT_YET_VALID',
  'CERT_HAS_EXPIRED',
  'ERROR_IN_CERT_NOT_BEFORE_FIELD',
  'ERROR_IN_CERT_NOT_AFTER_FIELD',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'CERT_CHAIN_TOO_LONG',
  'CERT_REVOKED',
  'INVALID_CA',
  'PATH_LENGTH_EXCEEDED',
  'INVALID_PURPOSE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'HOSTNAME_MISMATCH',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** What kind of TLS failure a transport error code is, if any. */
export function tlsFailure(code: string): 'certificate' | 'handshake' | undefined {
  if (CERTIFICATE_CODES.has(code)) return 'certificate';
  if (code === 'EPROTO' || code.startsWith('ERR_SSL_')) return 'handshake';
  return undefined;
}

const MAX_BODY_BYTES = 16 * 1024 * 1024;

/** The one function of node:http / node:https we call (same signature in both). */
interface HttpModule {
  request: typeof request;
}

/** The `request-promise`-shaped object node-vault's `config['request-promise']` takes. */
export function createTransport(options: TransportOptions): { defaults: () => RequestFn } {
  // Only the module the address needs (node:https costs 10+ ms to load), and through
  // getBuiltinModule: a dynamic import() of a builtin costs ~30 ms more at start.
  let mod: HttpModule;
  let agent: HttpAgent;
  const proxy = options.proxy;
  if (options.https) {
    const https = process.getBuiltinModule('node:https');
    mod = https;
    const agentOptions: HttpsAgentOptions = {
      keepAlive: true,
      ca: options.ca,
      rejectUnauthorized: options.rejectUnauthorized,
    };
    agent = proxy
      ? tunnelAgent(agentOptions, proxy, options.signal)
      : new https.Agent(agentOptions);
  } else {
    const http = process.getBuiltinModule('node:http');
    mod = http;
    agent = new http.Agent({ keepAlive: true });
  }
  // Plain HTTP through a proxy: the request goes to the proxy, with the absolute URI.
  const via = options.https ? undefined : proxy;
  const request: RequestFn = (req) => send({ mod, agent, via }, req, options.signal());
  return { defaults: () => request };
}

/** A CONNECT refused by the proxy (4xx): retrying cannot help. */
export const PROXY_REFUSED = 'E_PROXY_REFUSED';

/** A CONNECT tunnel through `proxy` to host:port: the raw socket once the proxy answered 2xx. */
function openTunnel(proxy: ProxyServer, target: string, signal: AbortSignal): Promise<Socket> {
  const http = process.getBuiltinModule('node:http');
  return new Promise<Socket>((resolve, reject) => {
    const auth = proxy.authorization;
    const req = http.request({
      host: proxy.host,
      port: proxy.port,
      method: 'CONNECT',
      path: target,
      headers: { host: target, ...(auth !== undefined ? { 'proxy-authorization': auth } : {}) },
      agent: false,
      signal,
    });
    req.once('connect', (res, socket) => {
      const status = res.statusCode ?? 0;
      if (status >= 200 && status < 300) {
        resolve(socket);
        return;
      }
      socket.destroy();
      const code = status >= 400 && status < 500 ? PROXY_REFUSED : 'E_PROXY';
      const why = `proxy ${proxy.display} answered HTTP ${status} to CONNECT ${target}`;
      reject(new TransportError(code, why));
    });
    req.once('error', (err: NodeJS.ErrnoException) => {
      const code = signal.aborted ? 'ETIMEDOUT' : (err.code ?? 'ECONNRESET');
      reject(new TransportError(code, `proxy ${proxy.display}: ${code}`, { cause: err }));
    });
    req.end();
  });
}

/** An HTTPS agent whose connections are TLS (our CA, our verification) inside a CONNECT tunnel. */
function tunnelAgent(
  options: HttpsAgentOptions,
  proxy: ProxyServer,
  signal: () => AbortSignal,
): HttpAgent {
  // Defined here: node:https is loaded only for an https address.
  const https = process.getBuiltinModule('node:https');
  class TunnelAgent extends https.Agent {
    override createConnection(
      args: ClientRequestArgs,
      callback?: (err: Error | null, stream: Duplex) => void,
    ): undefined {
      const host = args.host ?? 'localhost';
      const target = `${host.includes(':') ? `[${host}]` : host}:${Number(args.port ?? 443)}`;
      openTunnel(proxy, target, signal()).then(
        (socket) => {
          const tls = super.createConnection({ ...args, socket } as ClientRequestArgs);
          if (tls) callback?.(null, tls);
        },
        (err: Error) => callback?.(err, undefined as unknown as Duplex),
      );
      return undefined;
    }
  }
  return new TunnelAgent(options);
}

interface Route {
  readonly mod: HttpModule;
  readonly agent: HttpAgent;
  /** Plain HTTP through this proxy (absolute URI). */
  readonly via: ProxyServer | undefined;
}

function send(
  route: Route,
  req: TransportRequest,
  signal: AbortSignal,
): Promise<TransportResponse> {
  const url = new URL(req.uri);
  const payload = req.json === undefined ? undefined : Buffer.from(JSON.stringify(req.json));
  const headers: Record<string, string | number> = { ...req.headers, accept: 'application/json' };
  if (payload) {
    headers['content-type'] = 'application/json';
    headers['content-length'] = payload.length;
  }
  const { mod, agent, via } = route;
  const options: RequestOptions = { method: req.method, headers, agent, signal };
  if (via !== undefined) {
    Object.assign(options, { host: via.host, port: via.port, path: url.href });
    headers['host'] = url.host;
    if (via.authorization !== undefined) headers['proxy-authorization'] = via.authorization;
  }
  return new Promise((resolve, reject) => {
    const r = (via ? mod.request(options) : mod.request(url, options)).on('response', (res) => {
      const statusCode = res.statusCode ?? 0;
      readBody(res).then((body) => {
        // An error status keeps its meaning (a 502 page from a proxy is still a 502).
        if (body === NOT_JSON && statusCode >= 200 && statusCode < 300) {
          reject(new UnexpectedAnswerError(statusCode, url.pathname));
          return;
        }
        resolve({
          statusCode,
          body: body === NOT_JSON ? undefined : body,
          request: { path: url.pathname },
        });
      }, reject);
    });
    r.on('error', (err: NodeJS.ErrnoException) => {
      // The tunnel's own failure already names the proxy and its answer.
      if (err instanceof TransportError && err.code.startsWith('E_PROXY')) {
        reject(err);
        return;
      }
      const code = signal.aborted ? 'ETIMEDOUT' : (err.code ?? 'ECONNRESET');
      reject(new TransportError(code, `${req.method} ${url.pathname}: ${code}`, { cause: err }));
    });
    r.end(payload);
  });
}

/** What readBody gives for a body that is not JSON. */
const NOT_JSON: unique symbol = Symbol('not JSON');

/** The body parsed as JSON; undefined when empty; NOT_JSON when it is something else. */
function readBody(res: IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    res.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        res.destroy(new TransportError('E2BIG', 'response body larger than 16 MiB'));
        return;
      }
      chunks.push(chunk);
    });
    res.on('error', (err: NodeJS.ErrnoException) =>
      reject(new TransportError(err.code ?? 'ECONNRESET', 'response interrupted', { cause: err })),
    );
    res.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      if (text.trim() === '') {
        resolve(undefined);
        return;
      }
      try {
        resolve(JSON.parse(text));
      } catch {
        // The text may hold a secret: keep neither it nor the parser's message (which quotes it).
        resolve(NOT_JSON);
      }
    });
  });
}
