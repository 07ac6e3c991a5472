/**
 * The HTTP layer, kept behind a one-function interface so the protocol logic above it is tested with
 * a fake. The Node implementation keeps one keep-alive agent per host, trusts the system roots plus
 * a per-registry CA bundle, skips verification only for hosts explicitly configured to, and caps
 * every response body.
 */
import http from 'node:http';
import https from 'node:https';
import { rootCertificates } from 'node:tls';
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

export function createNodeTransport(options: { hosts?: RegistryHosts } = {}): NodeTransport {
  const hosts = options.hosts ?? {};
  const httpsAgents = new Map<string, https.Agent>();
  const httpAgent = new http.Agent({ keepAlive: true, maxSockets: 32 });

  function agentFor(url: URL, caFrom: string | undefined): http.Agent {
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
    let agent = httpsAgents.get(key);
    if (agent === undefined) {
      agent = new https.Agent({
        keepAlive: true,
        maxSockets: 32,
        ...(settings.ca !== undefined ? { ca: [...rootCertificates, settings.ca] } : {}),
        rejectUnauthorized: settings.insecureSkipVerify !== true,
      });
      httpsAgents.set(key, agent);
    }
    return agent;
  }

  const transport = (request: HttpRequest): Promise<HttpResponse> =>
    new Promise<HttpResponse>((resolve, reject) => {
      const module = request.url.protocol === 'http:' ? http : https;
      const req = module.request(request.url, {
        method: request.method,
        headers: request.headers,
        agent: agentFor(request.url, request.caFrom),
        signal: request.signal,
      });
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
