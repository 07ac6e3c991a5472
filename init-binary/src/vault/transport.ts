/**
 * node-vault's HTTP transport, ours: node-vault accepts a `request-promise`-shaped object, and we
 * give it one that speaks HTTP/1.1 itself on node:net / node:tls (http1.ts, connect.ts). Why:
 * (1) our settings are the only ones that count (no proxy or TLS variables read from the
 * environment behind our back: the proxy comes from config.ts like every other setting), (2) every
 * request is bound to the run's deadline, (3) the bundle does not load axios (~40 ms of the
 * start-to-exec budget) and (4) not node:http either: its machinery cost 4-5 ms of CPU per start
 * over these few hundred lines (docs/adr/0002-vault-client.md, docs/benchmarks.md).
 */
import type { Socket } from 'node:net';
import type { ProxyServer } from '../contract/proxy.ts';
import { connector, TransportError, type Endpoint, type Open } from './connect.ts';
import { HttpParseError, ResponseReader, serializeRequest } from './http1.ts';

export { PROXY_REFUSED, TransportError } from './connect.ts';

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
  readonly ca?: string | undefined;
  readonly rejectUnauthorized: boolean;
  /** The current deadline: aborts every in-flight request when its budget is spent. */
  readonly signal: () => AbortSignal;
  /** The proxy for Vault's address (proxyFor: HTTPS_PROXY or HTTP_PROXY, unless NO_PROXY). */
  readonly proxy?: ProxyServer | undefined;
  /** Vault's address: every request goes there (node-vault's URIs start with it). */
  readonly addr: string;
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

/** The `request-promise`-shaped object node-vault's `config['request-promise']` takes. */
export function createTransport(options: TransportOptions): { defaults: () => RequestFn } {
  const url = new URL(options.addr);
  const https = options.https;
  const target: Endpoint = {
    host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: Number(url.port || (https ? 443 : 80)),
  };
  const pool = new Pool(
    connector({
      target,
      tls: https ? { ca: options.ca, rejectUnauthorized: options.rejectUnauthorized } : undefined,
      proxy: options.proxy,
    }),
  );
  // Plain HTTP through a proxy: the request goes to the proxy, with the absolute URI.
  const via = https ? undefined : options.proxy;
  const request: RequestFn = (req) => send(pool, via, req, options.signal());
  // The first request's connection, opened now: its handshake overlaps what comes before that
  // request (loading node-vault, reading the login's credentials) instead of following it.
  pool.preconnect(options.signal());
  return { defaults: () => request };
}

/**
 * Keep-alive connections: a request takes an idle one or opens its own, so parallel reads run on
 * parallel connections. Idle ones do not keep the process alive, and are dropped when the server
 * closes them.
 */
class Pool {
  private readonly idle: Socket[] = [];
  /** An idle connection the server closed, failed or wrote to unasked: not used again. */
  private readonly gone: (this: Socket) => void;
  readonly open: Open;
  constructor(open: Open) {
    this.open = open;
    const idle = this.idle;
    this.gone = function (this: Socket): void {
      const i = idle.indexOf(this);
      if (i >= 0) idle.splice(i, 1);
      this.destroy();
    };
  }

  take(): Socket | undefined {
    const socket = this.idle.pop();
    if (socket === undefined) return undefined;
    socket.off('data', this.gone).off('end', this.gone).off('error', this.gone);
    socket.off('close', this.gone);
    socket.ref();
    return socket;
  }

  /** A connection for the next request, opened ahead; a failed one is dropped like a closed one. */
  preconnect(signal: AbortSignal): void {
    const opened = this.open(signal);
    if (!(opened instanceof Promise)) this.release(opened);
    else
      opened.then(
        (socket) => this.release(socket),
        () => undefined,
      );
  }

  release(socket: Socket): void {
    socket.unref();
    socket.on('data', this.gone).on('end', this.gone).on('error', this.gone);
    socket.on('close', this.gone);
    this.idle.push(socket);
  }
}

async function send(
  pool: Pool,
  via: ProxyServer | undefined,
  req: TransportRequest,
  signal: AbortSignal,
): Promise<TransportResponse> {
  const url = new URL(req.uri);
  const path = url.pathname;
  const payload = req.json === undefined ? undefined : Buffer.from(JSON.stringify(req.json));
  const headers: Record<string, string> = {
    host: url.host,
    ...req.headers,
    accept: 'application/json',
    connection: 'keep-alive',
  };
  if (payload) {
    headers['content-type'] = 'application/json';
    headers['content-length'] = String(payload.length);
  }
  if (via?.authorization !== undefined) headers['proxy-authorization'] = via.authorization;
  const bytes = serializeRequest(
    { method: req.method, target: via ? url.href : `${path}${url.search}`, headers },
    payload,
  );
  let reader: ResponseReader;
  try {
    reader = await roundTrip(pool, bytes, signal);
  } catch (err) {
    throw failure(err, signal, `${req.method} ${path}`);
  }
  const statusCode = reader.status;
  const body = parseBody(reader.body());
  // An error status keeps its meaning (a 502 page from a proxy is still a 502).
  if (body === NOT_JSON && statusCode >= 200 && statusCode < 300)
    throw new UnexpectedAnswerError(statusCode, path);
  return { statusCode, body: body === NOT_JSON ? undefined : body, request: { path } };
}

/** One request and its response, on an idle connection or a new one. */
async function roundTrip(pool: Pool, bytes: Buffer, signal: AbortSignal): Promise<ResponseReader> {
  if (signal.aborted) throw new TransportError('ETIMEDOUT', 'deadline');
  const reused = pool.take();
  if (reused !== undefined) {
    const state = { answered: false };
    try {
      return await exchange(reused, { pool, bytes, signal, state });
    } catch (err) {
      // The server closed the idle connection as we sent: once more on a new one (node:http's
      // agent leaves that to the caller's retry, and its backoff).
      if (state.answered || signal.aborted) throw err;
    }
  }
  const socket = await pool.open(signal);
  return exchange(socket, { pool, bytes, signal, state: { answered: false } });
}

interface Exchange {
  readonly pool: Pool;
  readonly bytes: Buffer;
  readonly signal: AbortSignal;
  /** Set once the first byte of an answer arrived: the request reached the server. */
  readonly state: { answered: boolean };
}

function exchange(socket: Socket, x: Exchange): Promise<ResponseReader> {
  const { pool, bytes, signal, state } = x;
  return new Promise((resolve, reject) => {
    const reader = new ResponseReader();
    const cleanup = (): void => {
      socket.off('data', onData).off('end', onEnd).off('error', fail).off('close', onClose);
      onAbortOf(signal).delete(onAbort);
    };
    function fail(err: unknown): void {
      cleanup();
      socket.destroy();
      reject(err);
    }
    const done = (): void => {
      cleanup();
      if (reader.reusable && reader.rest.length === 0) pool.release(socket);
      else socket.destroy();
      resolve(reader);
    };
    const onData = (chunk: Buffer): void => {
      state.answered = true;
      try {
        if (reader.push(chunk)) done();
      } catch (err) {
        fail(err);
      }
    };
    const onEnd = (): void => {
      try {
        reader.end();
        done();
      } catch (err) {
        fail(err);
      }
    };
    const onClose = (): void => fail(new TransportError('ECONNRESET', 'connection closed'));
    const onAbort = (): void => fail(new TransportError('ETIMEDOUT', 'deadline'));
    if (signal.aborted) {
      onAbort();
      return;
    }
    onAbortOf(signal).add(onAbort);
    socket.on('data', onData).on('end', onEnd).on('error', fail).on('close', onClose);
    socket.write(bytes);
  });
}

/**
 * What to do when a deadline aborts, for every exchange bound to it: one listener per signal (an
 * EventTarget listener per request costs more than the request's own parsing).
 */
const abortHandlers = new WeakMap<AbortSignal, Set<() => void>>();

function onAbortOf(signal: AbortSignal): Set<() => void> {
  let handlers = abortHandlers.get(signal);
  if (handlers === undefined) {
    const set = new Set<() => void>();
    handlers = set;
    abortHandlers.set(signal, set);
    signal.addEventListener(
      'abort',
      () => {
        for (const abort of [...set]) abort();
      },
      { once: true },
    );
  }
  return handlers;
}

/** One TransportError for every way a request can fail without a usable answer. */
function failure(err: unknown, signal: AbortSignal, what: string): Error {
  // The tunnel's own failure already names the proxy and its answer.
  if (err instanceof TransportError && err.code.startsWith('E_PROXY')) return err;
  if (err instanceof HttpParseError && err.code === 'E2BIG')
    return new TransportError('E2BIG', err.message);
  // A request we could not write (a CR or LF in a header): not the network's fault.
  if (err instanceof TypeError) return err;
  const code = signal.aborted
    ? 'ETIMEDOUT'
    : ((err as NodeJS.ErrnoException | undefined)?.code ?? 'ECONNRESET');
  return new TransportError(code, `${what}: ${code}`, { cause: err });
}

/** What parseBody gives for a body that is not JSON. */
const NOT_JSON: unique symbol = Symbol('not JSON');

/** The body parsed as JSON; undefined when empty; NOT_JSON when it is something else. */
function parseBody(bytes: Buffer): unknown {
  const text = bytes.toString('utf8');
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    // The text may hold a secret: keep neither it nor the parser's message (which quotes it).
    return NOT_JSON;
  }
}
