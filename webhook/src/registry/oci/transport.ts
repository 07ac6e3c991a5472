/**
 * The HTTP layer, kept behind a one-function interface so the protocol logic above it is tested with
 * a fake. The Node implementation keeps one keep-alive agent per host, trusts the system roots plus
 * a per-registry CA bundle, skips verification only for hosts explicitly configured to, and caps
 * every response body. With HTTPS_PROXY / HTTP_PROXY set (docs/registry.md, "Proxies"), HTTPS goes
 * through an HTTP CONNECT tunnel (one per keep-alive connection, TLS end to end with the registry)
 * and plain HTTP to the proxy with an absolute URI; NO_PROXY's hosts go direct.
 */
import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { rootCertificates } from 'node:tls';
import {
  proxyFor,
  type ProxyConfig,
  type ProxyServer,
} from '../../../../init-binary/src/contract/index.ts';
import { normaliseRegistryHost } from './reference.ts';

export interface HttpRequest {
  readonly method: 'GET' | 'HEAD' | 'POST';
  readonly url: URL;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: string;
  readonly signal: AbortSignal;
  /** A longer body fails the request (a manifest or config is small; a registry may not be). */
  readonly maxBytes: number;
  /**
   * A registry whose CA bundle also applies to this URL's host when that host has no settings of
   * its own: a registry's token realm usually carries the same private CA.
   */
  readonly caFrom?: string;
}

export interface HttpResponse {
  readonly status: number;
  /** Lowercase names; repeated headers joined with `, `. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer;
}

export type Transport = (request: HttpRequest) => Promise<HttpResponse>;

/** Per-registry connection settings, keyed by normalised host (`registry.example:5000`). */
export interface RegistryHostOptions {
  /** PEM bundle trusted for this host in addition to the system roots. */
  readonly ca?: string;
  /** Accept any certificate. Only for hosts listed explicitly. */
  readonly insecureSkipVerify?: boolean;
  /** Speak plain HTTP to this host. Only for hosts listed explicitly. */
  readonly plainHttp?: boolean;
}

export type RegistryHosts = Readonly<Record<string, RegistryHostOptions>>;

export class BodyTooLargeError extends Error {
  readonly code = 'E_BODY_TOO_LARGE';
  constructor(limit: number) {
    super(`response body larger than ${limit} bytes`);
    this.name = 'BodyTooLargeError';
  }
}

export function hostOptions(hosts: RegistryHosts, host: string): RegistryHostOptions {
  return hosts[normaliseRegistryHost(host)] ?? {};
}

export interface NodeTransport extends Transport {
  /** Close idle keep-alive connections. */
  close(): void;
}

function flattenHeaders(headers: http.IncomingHttpHeaders): Record<string, string> {
  const flat: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) flat[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return flat;
}

/** The proxy refused or failed the tunnel; the message names the proxy without its credentials. */
class ProxyTunnelError extends Error {
  readonly code = 'E_PROXY';
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ProxyTunnelError';
  }
}

/** How long the proxy has to answer a CONNECT (the lookup's own deadline is usually shorter). */
const TUNNEL_TIMEOUT_MS = 10_000;

/** `host:port` as a CONNECT request names it (an IPv6 address in brackets). */
function authority(host: string, port: number): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** A CONNECT tunnel through `proxy` to host:port: the raw socket once the proxy answered 2xx. */
function openTunnel(proxy: ProxyServer, host: string, port: number): Promise<Socket> {
  const target = authority(host, port);
  return new Promise<Socket>((resolve, reject) => {
    const req = http.request({
      host: proxy.host,
      port: proxy.port,
      method: 'CONNECT',
      path: target,
      headers: {
        host: target,
        ...(proxy.authorization !== undefined
          ? { 'proxy-authorization': proxy.authorization }
          : {}),
      },
      agent: false,
      timeout: TUNNEL_TIMEOUT_MS,
    });
    req.once('connect', (res, socket, head) => {
      const status = res.statusCode ?? 0;
      if (status < 200 || status > 299) {
        socket.destroy();
        reject(
          new ProxyTunnelError(
            `proxy ${proxy.display} answered HTTP ${status} to CONNECT ${target}`,
          ),
        );
        return;
      }
      if (head.length > 0) socket.unshift(head);
      resolve(socket);
    });
    req.once('timeout', () =>
      req.destroy(new ProxyTunnelError(`proxy ${proxy.display}: no answer to CONNECT ${target}`)),
    );
    req.once('error', (cause: NodeJS.ErrnoException) =>
      reject(
        cause instanceof ProxyTunnelError
          ? cause
          : new ProxyTunnelError(`proxy ${proxy.display}: ${cause.code ?? cause.message}`, {
              cause,
            }),
      ),
    );
    req.end();
  });
}

/** An HTTPS agent whose connections are TLS inside a CONNECT tunnel through `proxy`. */
class TunnelAgent extends https.Agent {
  readonly #proxy: ProxyServer;
  constructor(options: https.AgentOptions, proxy: ProxyServer) {
    super(options);
    this.#proxy = proxy;
  }
  override createConnection(
    options: http.ClientRequestArgs,
    callback?: (err: Error | null, stream: Duplex) => void,
  ): undefined {
    const host = options.host ?? options.hostname ?? 'localhost';
    openTunnel(this.#proxy, host, Number(options.port ?? 443)).then(
      (socket) => {
        // https.Agent's own connection (TLS, session reuse) over the tunnel's socket.
        const tls = super.createConnection({ ...options, socket } as http.ClientRequestArgs);
        if (tls) callback?.(null, tls);
      },
      (err: Error) => callback?.(err, undefined as unknown as Duplex),
    );
    return undefined;
  }
}

export interface NodeTransportOptions {
  readonly hosts?: RegistryHosts;
  /** From HTTPS_PROXY, HTTP_PROXY and NO_PROXY (proxyConfigFromEnv); none: every host direct. */
  readonly proxy?: ProxyConfig;
  /**
   * Accept any certificate from every host: only for the separate lookup of pods that ask for it
   * (`registry-skip-verify`, when `--allow-registry-skip-verify` allows it), with its own caches.
   */
  readonly skipVerify?: boolean;
}

export function createNodeTransport(options: NodeTransportOptions = {}): NodeTransport {
  const hosts = options.hosts ?? {};
  const httpsAgents = new Map<string, https.Agent>();
  const httpAgent = new http.Agent({ keepAlive: true, maxSockets: 32 });

  function agentFor(
    url: URL,
    caFrom: string | undefined,
    proxy: ProxyServer | undefined,
  ): http.Agent {
    if (url.protocol === 'http:') return httpAgent;
    const host = normaliseRegistryHost(url.host);
    let key = '';
    let settings: RegistryHostOptions = {};
    const own = hosts[host];
    const inherited = caFrom !== undefined ? hosts[normaliseRegistryHost(caFrom)]?.ca : undefined;
    if (own !== undefined) {
      key = `host:${host}`;
      settings = own;
    } else if (inherited !== undefined) {
      key = `ca-of:${normaliseRegistryHost(caFrom ?? '')}`;
      settings = { ca: inherited };
    }
    if (proxy !== undefined) key = `${key}|proxy`;
    let agent = httpsAgents.get(key);
    if (agent === undefined) {
      const agentOptions: https.AgentOptions = {
        keepAlive: true,
        maxSockets: 32,
        ...(settings.ca !== undefined ? { ca: [...rootCertificates, settings.ca] } : {}),
        rejectUnauthorized: settings.insecureSkipVerify !== true && options.skipVerify !== true,
      };
      agent = proxy ? new TunnelAgent(agentOptions, proxy) : new https.Agent(agentOptions);
      httpsAgents.set(key, agent);
    }
    return agent;
  }

  /** Plain HTTP through a proxy: the request goes to the proxy with the absolute URI. */
  function viaProxy(request: HttpRequest, proxy: ProxyServer): http.ClientRequest {
    return http.request({
      host: proxy.host,
      port: proxy.port,
      path: request.url.href,
      method: request.method,
      headers: {
        ...request.headers,
        host: request.url.host,
        ...(proxy.authorization !== undefined
          ? { 'proxy-authorization': proxy.authorization }
          : {}),
      },
      agent: httpAgent,
      signal: request.signal,
    });
  }

  function send(request: HttpRequest): http.ClientRequest {
    // One proxy (HTTPS_PROXY for https:, HTTP_PROXY for http:) and NO_PROXY decide per URL.
    const proxy = proxyFor(options.proxy, request.url);
    if (proxy !== undefined && request.url.protocol === 'http:') return viaProxy(request, proxy);
    const module = request.url.protocol === 'http:' ? http : https;
    return module.request(request.url, {
      method: request.method,
      headers: request.headers,
      agent: agentFor(request.url, request.caFrom, proxy),
      signal: request.signal,
    });
  }

  const transport = (request: HttpRequest): Promise<HttpResponse> =>
    new Promise<HttpResponse>((resolve, reject) => {
      const req = send(request);
      req.on('error', reject);
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        let length = 0;
        res.on('data', (chunk: Buffer) => {
          length += chunk.length;
          if (length > request.maxBytes) {
            res.destroy(new BodyTooLargeError(request.maxBytes));
            return;
          }
          chunks.push(chunk);
        });
        res.on('error', reject);
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: flattenHeaders(res.headers),
            body: Buffer.concat(chunks),
          }),
        );
      });
      req.end(request.body);
    });

  return Object.assign(transport, {
    close(): void {
      httpAgent.destroy();
      for (const agent of httpsAgents.values()) agent.destroy();
      httpsAgents.clear();
    },
  });
}
