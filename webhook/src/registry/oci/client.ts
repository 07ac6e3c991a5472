/**
 * The distribution API as this module needs it: manifests and blobs of one repository, with the
 * registry's authentication (auth/). The first request to a host goes anonymously (or with a cached
 * token); a 401 names the scheme. The challenge is remembered per host and tokens are cached until
 * shortly before they expire, so a warm client sends one request per manifest or blob.
 *
 * Redirects (blob storage on another host) are followed without the Authorization header.
 */
import { authorize } from './auth/authorize.ts';
import { BearerTokens } from './auth/bearer-token.ts';
import { pickChallenge, type Challenge } from './auth/challenge.ts';
import { plainHttpAllowed } from './auth/token-realm.ts';
import { MAX_CONFIG_BYTES, MAX_MANIFEST_BYTES, formatSize } from './limits.ts';
import { LruCache, type Clock } from './lru.ts';
import { registryApiHost } from './reference.ts';
import {
  fail,
  networkFailure,
  statusFailure,
  type LookupContext,
  type SendRequest,
} from './request-context.ts';
import { RegistryError } from './errors.ts';
import {
  BodyTooLargeError,
  hostOptions,
  type HttpRequest,
  type HttpResponse,
  type RegistryHosts,
  type Transport,
} from './transport.ts';

export interface RegistryClientOptions {
  readonly transport: Transport;
  readonly hosts: RegistryHosts;
  readonly now: Clock;
  /** Only Bearer realms on the registry's own host name. */
  readonly realmSameHost?: boolean;
}

const MAX_REDIRECTS = 5;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/** One request of the API: `/v2/REPO/SUFFIX`, and what it is called in errors. */
interface ApiRequest {
  readonly method: 'GET' | 'HEAD';
  readonly suffix: string;
  readonly accept: string;
  readonly maxBytes: number;
  readonly what: string;
}

export class RegistryClient {
  readonly #transport: Transport;
  readonly #hosts: RegistryHosts;
  /** The last challenge each host sent: lets the next request authenticate up front. */
  readonly #challenges = new LruCache<string, Challenge>({ max: 256 });
  readonly #tokens: BearerTokens;

  constructor(options: RegistryClientOptions) {
    this.#transport = options.transport;
    this.#hosts = options.hosts;
    this.#tokens = new BearerTokens({
      send: (ctx, request) => this.#send(ctx, request),
      hosts: options.hosts,
      now: options.now,
      ...(options.realmSameHost !== undefined ? { realmSameHost: options.realmSameHost } : {}),
    });
  }

  /** GET or HEAD `/v2/REPO/manifests/REFERENCE`; a non-2xx answer throws. */
  manifest(
    ctx: LookupContext,
    reference: string,
    method: 'GET' | 'HEAD',
    accept: string,
  ): Promise<HttpResponse> {
    const suffix = `manifests/${reference}`;
    return this.#request(ctx, {
      method,
      suffix,
      accept,
      maxBytes: MAX_MANIFEST_BYTES,
      what: 'manifest',
    });
  }

  /** GET `/v2/REPO/blobs/DIGEST`; a non-2xx answer throws. */
  blob(ctx: LookupContext, digest: string): Promise<HttpResponse> {
    return this.#request(ctx, {
      method: 'GET',
      suffix: `blobs/${digest}`,
      accept: '*/*',
      maxBytes: MAX_CONFIG_BYTES,
      what: 'image config',
    });
  }

  #baseUrl(ctx: LookupContext): URL {
    const scheme = hostOptions(this.#hosts, ctx.ref.registry).plainHttp === true ? 'http' : 'https';
    return new URL(`${scheme}://${registryApiHost(ctx.ref.registry)}/`);
  }

  async #request(ctx: LookupContext, api: ApiRequest): Promise<HttpResponse> {
    const { method, accept, maxBytes, what } = api;
    const url = new URL(`v2/${ctx.ref.repository}/${api.suffix}`, this.#baseUrl(ctx));
    const host = url.host;
    const known = this.#challenges.get(host);
    let authorization = known
      ? await authorize(ctx, this.#tokens, { challenge: known, scope: undefined, fresh: false })
      : undefined;
    const send = (auth: string | undefined): Promise<HttpResponse> =>
      this.#sendLimited(ctx, api, { method, url, accept, authorization: auth, maxBytes });
    let response = await send(authorization);
    if (response.status === 401) {
      const challenge = pickChallenge(response.headers['www-authenticate']);
      if (challenge === undefined) {
        fail(ctx, 'unauthorized', `${what}: HTTP 401 without a usable WWW-Authenticate challenge`);
      }
      this.#challenges.set(host, challenge);
      const refused = authorization;
      // A token we sent was refused or we sent none: get a new one, never the cached one again.
      const scope = challenge.params['scope'];
      authorization = await authorize(ctx, this.#tokens, { challenge, scope, fresh: true });
      if (authorization === undefined) {
        fail(
          ctx,
          'unauthorized',
          `${what}: ${host} wants ${challenge.scheme} credentials and none match`,
        );
      }
      // The same Basic credentials (or registry token) again would only be refused again.
      if (authorization !== refused) {
        response = await send(authorization);
      }
    }
    if (response.status < 200 || response.status > 299) statusFailure(ctx, what, response);
    return response;
  }

  /** #send for the API request itself: a body over the limit is named (`manifest larger than 4 MiB`). */
  async #sendLimited(
    ctx: LookupContext,
    api: ApiRequest,
    request: SendRequest,
  ): Promise<HttpResponse> {
    try {
      return await this.#send(ctx, request);
    } catch (error) {
      if (error instanceof RegistryError && error.cause instanceof BodyTooLargeError) {
        fail(ctx, 'protocol', `${api.what} larger than ${formatSize(api.maxBytes)}`, error);
      }
      throw error;
    }
  }

  async #send(ctx: LookupContext, request: SendRequest): Promise<HttpResponse> {
    let url = request.url;
    let authorization = request.authorization;
    for (let hop = 0; hop <= MAX_REDIRECTS; hop += 1) {
      const headers: Record<string, string> = {
        accept: request.accept,
        'user-agent': 'vault-inject',
      };
      if (authorization !== undefined) headers['authorization'] = authorization;
      if (request.contentType !== undefined) headers['content-type'] = request.contentType;
      const http: HttpRequest = {
        method: request.method,
        url,
        headers,
        signal: ctx.signal,
        maxBytes: request.maxBytes,
        ...(request.body !== undefined ? { body: request.body } : {}),
        ...(request.caFrom !== undefined ? { caFrom: request.caFrom } : {}),
      };
      ctx.upstreamRequests += 1;
      let response: HttpResponse;
      try {
        response = await this.#transport(http);
      } catch (error) {
        networkFailure(ctx, url, error);
      }
      const location = response.headers['location'];
      if (!REDIRECTS.has(response.status) || location === undefined) return response;
      const next = new URL(location, url);
      if (url.protocol === 'https:' && next.protocol !== 'https:') {
        fail(ctx, 'protocol', `${url.host} redirected from HTTPS to ${next.protocol} ${next.host}`);
      }
      if (!plainHttpAllowed(this.#hosts, next)) {
        const reason = `${url.host} redirected to plain HTTP ${next.host}, not a plain-HTTP registry`;
        fail(ctx, 'protocol', reason);
      }
      if (next.origin !== url.origin) authorization = undefined;
      url = next;
    }
    fail(ctx, 'protocol', `more than ${MAX_REDIRECTS} redirects from ${request.url.host}`);
  }
}
