/**
 * Opening a connection to Vault for the transport (transport.ts): TCP, TLS with our CA and our
 * verification (and SNI for a host name, as node:https sends it), and the CONNECT tunnel through
 * an HTTP proxy, all on node:net / node:tls. node:http is never loaded (docs/adr/0002-vault-client.md).
 */
import type * as NetModule from 'node:net';
import type { Socket } from 'node:net';
import type { ProxyServer } from '../contract/proxy.ts';
import { ResponseReader, serializeRequest, type HttpParseError } from './http1.ts';

/** A network-level failure (no HTTP status). `code` is the system code (ECONNREFUSED, …). */
export class TransportError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'TransportError';
    this.code = code;
  }
}

/** A CONNECT refused by the proxy (4xx): retrying cannot help. */
export const PROXY_REFUSED = 'E_PROXY_REFUSED';

export interface Endpoint {
  /** Without the brackets of an IPv6 literal. */
  readonly host: string;
  readonly port: number;
}

export interface TlsSettings {
  /** PEM of the CA to trust instead of Node's bundled roots. */
  readonly ca: string | undefined;
  readonly rejectUnauthorized: boolean;
}

export interface ConnectOptions {
  /** Vault's host and port (the TLS peer, the tunnel's target). */
  readonly target: Endpoint;
  /** TLS settings for an https address; undefined for plain HTTP. */
  readonly tls: TlsSettings | undefined;
  /** Through this proxy: a CONNECT tunnel for https, the proxy itself for plain HTTP. */
  readonly proxy: ProxyServer | undefined;
}

/** `host:port`, the host in brackets when it is an IPv6 address. */
export function authority(endpoint: Endpoint): string {
  const host = endpoint.host.includes(':') ? `[${endpoint.host}]` : endpoint.host;
  return `${host}:${endpoint.port}`;
}

/** Opens a connection: at once (TCP, TLS), or once a proxy opened the tunnel. */
export type Open = (signal: AbortSignal) => Socket | Promise<Socket>;

/** Opens connections to one endpoint; TLS sessions are resumed across them (as node:https does). */
export function connector(options: ConnectOptions): Open {
  const net = process.getBuiltinModule('node:net');
  const { target, tls: settings, proxy } = options;
  if (settings === undefined) {
    const to = proxy ?? target;
    return () => tcp(net, to);
  }
  const tls = process.getBuiltinModule('node:tls');
  const servername = net.isIP(target.host) === 0 ? target.host : undefined;
  let session: Buffer | undefined;
  const secure = (socket?: Socket): Socket => {
    const s = tls.connect({
      ...(socket ? { socket } : { host: target.host, port: target.port }),
      host: target.host,
      ...(servername !== undefined ? { servername } : {}),
      ...(settings.ca !== undefined ? { ca: settings.ca } : {}),
      rejectUnauthorized: settings.rejectUnauthorized,
      ...(session ? { session } : {}),
    });
    s.once('session', (ticket: Buffer) => (session = ticket));
    s.setNoDelay(true);
    return s;
  };
  if (proxy === undefined) return () => secure();
  return async (signal) => secure(await tunnel(tcp(net, proxy), proxy, authority(target), signal));
}

function tcp(net: typeof NetModule, to: Endpoint): Socket {
  const socket = net.connect({ host: to.host, port: to.port });
  socket.setNoDelay(true);
  return socket;
}

/** A CONNECT tunnel through `proxy` to `target` on `socket`: the socket once the proxy said 2xx. */
function tunnel(
  socket: Socket,
  proxy: ProxyServer,
  target: string,
  signal: AbortSignal,
): Promise<Socket> {
  return new Promise<Socket>((resolve, reject) => {
    const reader = new ResponseReader({ headOnly: true });
    const auth = proxy.authorization;
    const headers: Record<string, string> = { host: target };
    if (auth !== undefined) headers['proxy-authorization'] = auth;
    const cleanup = (): void => {
      socket.off('data', onData).off('error', onError).off('close', onClose);
      signal.removeEventListener('abort', onAbort);
    };
    const fail = (err: NodeJS.ErrnoException | undefined): void => {
      cleanup();
      socket.destroy();
      const code = signal.aborted ? 'ETIMEDOUT' : (err?.code ?? 'ECONNRESET');
      reject(new TransportError(code, `proxy ${proxy.display}: ${code}`, { cause: err }));
    };
    const onData = (chunk: Buffer): void => {
      try {
        if (!reader.push(chunk)) return;
      } catch (err) {
        fail(err as HttpParseError);
        return;
      }
      cleanup();
      const status = reader.status;
      if (status >= 200 && status < 300) {
        if (reader.rest.length > 0) socket.unshift(reader.rest);
        resolve(socket);
        return;
      }
      socket.destroy();
      const code = status >= 400 && status < 500 ? PROXY_REFUSED : 'E_PROXY';
      const why = `proxy ${proxy.display} answered HTTP ${status} to CONNECT ${target}`;
      reject(new TransportError(code, why));
    };
    const onError = (err: NodeJS.ErrnoException): void => fail(err);
    const onClose = (): void => fail(undefined);
    const onAbort = (): void => fail(undefined);
    if (signal.aborted) {
      onAbort();
      return;
    }
    signal.addEventListener('abort', onAbort, { once: true });
    socket.on('data', onData).on('error', onError).on('close', onClose);
    socket.write(serializeRequest({ method: 'CONNECT', target, headers }));
  });
}
