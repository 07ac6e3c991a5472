/**
 * The distribution API as this module needs it: manifests and blobs of one repository, with the
 * registry's authentication. The first request to a host goes anonymously (or with a cached token);
 * a 401 names the scheme. `Basic` gets the credential; `Bearer` gets a token from the realm
 * (anonymously, with basic credentials, or with an identity token as an OAuth2 refresh token) for
 * `repository:REPO:pull`. The challenge is remembered per host and tokens are cached until shortly
 * before they expire, so a warm client sends one request per manifest or blob.
 *
 * Redirects (blob storage on another host) are followed without the Authorization header.
 */
import { parseChallenges, type Challenge } from './challenge.ts';
import { credentialPhrase, type FoundCredential } from './docker-config.ts';
import { RegistryError, type RegistryErrorCode } from './errors.ts';
import { LruCache, type Clock } from './lru.ts';
import type { ImageReference } from './reference.ts';
import { registryApiHost } from './reference.ts';
import {
  BodyTooLargeError,
  hostOptions,
  type HttpRequest,
  type HttpResponse,
  type RegistryHosts,
  type Transport,
} from './transport.ts';

/** One lookup's state, shared by every request it makes. */
export interface LookupContext {
  readonly ref: ImageReference;
  readonly credential: FoundCredential | undefined;
  readonly signal: AbortSignal;
  readonly timeoutMs: number;
  /** Requests sent for this lookup (token requests and redirects included). */
  upstreamRequests: number;
}

export interface RegistryClientOptions {
  readonly transport: Transport;
  readonly hosts: RegistryHosts;
  readonly now: Clock;
}

const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
const MAX_BLOB_BYTES = 8 * 1024 * 1024;
const MAX_TOKEN_BYTES = 1024 * 1024;
const MAX_REDIRECTS = 5;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const DEFAULT_TOKEN_SECONDS = 60;

interface CachedToken {
  readonly token: string;
  readonly expiresAt: number;
}

function fail(ctx: LookupContext, code: RegistryErrorCode, reason: string, cause?: unknown): never {
  throw new RegistryError(
    code,
    { image: ctx.ref.original, registry: ctx.ref.registry, reason },
    cause === undefined ? undefined : { cause },
  );
}

function who(ctx: LookupContext): string {
  return credentialPhrase(ctx.credential);
}

/** `MANIFEST_UNKNOWN: manifest unknown` from a distribution error body, if there is one. */
function registryErrorText(body: Buffer): string {
  try {
    const parsed = JSON.parse(body.toString('utf8')) as {
      errors?: { code?: unknown; message?: unknown }[];
    };
    const first = parsed.errors?.[0];
    if (first === undefined) return '';
    const text = [first.code, first.message].filter((p) => typeof p === 'string').join(': ');
    return text ? ` (${text.slice(0, 200)})` : '';
  } catch {
    return '';
  }
}

function statusFailure(ctx: LookupContext, what: string, response: HttpResponse): never {
  const detail = `${what}: HTTP ${response.status}${registryErrorText(response.body)}`;
  if (response.status === 401 || response.status === 403)
    fail(ctx, 'unauthorized', `${detail} with ${who(ctx)}`);
  if (response.status === 404) fail(ctx, 'not_found', detail);
  if (response.status === 429) fail(ctx, 'rate_limited', detail);
  if (response.status >= 500) fail(ctx, 'unreachable', detail);
  fail(ctx, 'protocol', detail);
}

function networkFailure(ctx: LookupContext, url: URL, error: unknown): never {
  if (ctx.signal.aborted) {
    const reason: unknown = ctx.signal.reason;
    if (reason instanceof Error && reason.name === 'TimeoutError') {
      fail(ctx, 'timeout', `no answer from ${url.host} within ${ctx.timeoutMs} ms`, error);
    }
    fail(ctx, 'aborted', `lookup abandoned while waiting for ${url.host}`, error);
  }
  if (error instanceof BodyTooLargeError)
    fail(ctx, 'protocol', `${url.host}: ${error.message}`, error);
  const code = (error as { code?: unknown } | null)?.code;
  // Node appends advice about --use-system-ca to certificate errors: not ours to give.
  const message =
    (error instanceof Error ? error.message : String(error)).split('; if the root CA')[0] ?? '';
  const text =
    typeof code === 'string' && !message.includes(code) ? `${code}: ${message}` : message;
  fail(ctx, 'unreachable', `${url.host}: ${text}`, error);
}

export class RegistryClient {
  readonly #transport: Transport;
  readonly #hosts: RegistryHosts;
  readonly #now: Clock;
  /** The last challenge each host sent: lets the next request authenticate up front. */
  readonly #challenges = new LruCache<string, Challenge>({ max: 256 });
  readonly #tokens: LruCache<string, CachedToken>;

  constructor(options: RegistryClientOptions) {
    this.#transport = options.transport;
    this.#hosts = options.hosts;
    this.#now = options.now;
    this.#tokens = new LruCache({ max: 1024, now: options.now });
  }

  /** GET or HEAD `/v2/REPO/manifests/REFERENCE`; a non-2xx answer throws. */
  manifest(
    ctx: LookupContext,
    reference: string,
    method: 'GET' | 'HEAD',
    accept: string,
  ): Promise<HttpResponse> {
    return this.#request(
      ctx,
      method,
      `manifests/${reference}`,
      accept,
      MAX_MANIFEST_BYTES,
      'manifest',
    );
  }

  /** GET `/v2/REPO/blobs/DIGEST`; a non-2xx answer throws. */
  blob(ctx: LookupContext, digest: string): Promise<HttpResponse> {
    return this.#request(ctx, 'GET', `blobs/${digest}`, '*/*', MAX_BLOB_BYTES, 'config blob');
  }

  #baseUrl(ctx: LookupContext): URL {
    const scheme = hostOptions(this.#hosts, ctx.ref.registry).plainHttp === true ? 'http' : 'https';
    return new URL(`${scheme}://${registryApiHost(ctx.ref.registry)}/`);
  }

  async #request(
    ctx: LookupContext,
    method: 'GET' | 'HEAD',
    suffix: string,
    accept: string,
    maxBytes: number,
    what: string,
  ): Promise<HttpResponse> {
    const url = new URL(`v2/${ctx.ref.repository}/${suffix}`, this.#baseUrl(ctx));
    const host = url.host;
    const known = this.#challenges.get(host);
    let authorization = known ? await this.#authorize(ctx, known, undefined, false) : undefined;
    let response = await this.#send(ctx, { method, url, accept, authorization, maxBytes });
    if (response.status === 401) {
      const challenge = pickChallenge(response.headers['www-authenticate']);
      if (challenge === undefined) {
        fail(ctx, 'unauthorized', `${what}: HTTP 401 without a usable WWW-Authenticate challenge`);
      }
      this.#challenges.set(host, challenge);
      const refused = authorization;
      // A token we sent was refused or we sent none: get a new one, never the cached one again.
      authorization = await this.#authorize(ctx, challenge, challenge.params['scope'], true);
      if (authorization === undefined) {
        fail(
          ctx,
          'unauthorized',
          `${what}: ${host} wants ${challenge.scheme} credentials and none match`,
        );
      }
      // The same Basic credentials (or registry token) again would only be refused again.
      if (authorization !== refused) {
        response = await this.#send(ctx, { method, url, accept, authorization, maxBytes });
      }
    }
    if (response.status < 200 || response.status > 299) statusFailure(ctx, what, response);
    return response;
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
      if (next.origin !== url.origin) authorization = undefined;
      url = next;
    }
    fail(ctx, 'protocol', `more than ${MAX_REDIRECTS} redirects from ${request.url.host}`);
  }

  /** The Authorization header for a challenge, or undefined when we have nothing to offer. */
  async #authorize(
    ctx: LookupContext,
    challenge: Challenge,
    scope: string | undefined,
    fresh: boolean,
  ): Promise<string | undefined> {
    const credential = ctx.credential?.credential;
    if (challenge.scheme === 'basic') {
      if (credential?.username === undefined) return undefined;
      return basicAuthorization(credential.username, credential.password);
    }
    if (challenge.scheme !== 'bearer') return undefined;
    if (credential?.registryToken !== undefined) return `Bearer ${credential.registryToken}`;
    const token = await this.#token(
      ctx,
      challenge,
      scope ?? `repository:${ctx.ref.repository}:pull`,
      fresh,
    );
    return `Bearer ${token}`;
  }

  async #token(
    ctx: LookupContext,
    challenge: Challenge,
    scope: string,
    fresh: boolean,
  ): Promise<string> {
    const realm = challenge.params['realm'];
    if (realm === undefined) fail(ctx, 'unauthorized', 'Bearer challenge without a realm');
    const service = challenge.params['service'];
    const key = [realm, service ?? '', scope, ctx.credential?.identity ?? 'anonymous'].join('|');
    const cached = fresh ? undefined : this.#tokens.get(key);
    if (cached !== undefined && cached.expiresAt > this.#now()) return cached.token;

    const url = this.#realmUrl(ctx, realm);
    const request = { ...tokenRequest(ctx, url, service, scope), caFrom: ctx.ref.registry };
    const response = await this.#send(ctx, request);
    if (response.status < 200 || response.status > 299) {
      statusFailure(ctx, `token endpoint ${url.host}`, response);
    }
    const token = parseTokenResponse(response.body);
    if (token === undefined) fail(ctx, 'protocol', `token endpoint ${url.host} sent no token`);
    const lifetime = Math.max(token.expiresIn, 1) * 1000;
    // Renew a little early: a token must not expire between the cache and the registry.
    this.#tokens.set(key, {
      token: token.token,
      expiresAt: this.#now() + lifetime - Math.min(10_000, lifetime / 2),
    });
    return token.token;
  }

  /** The realm as a URL we may send this lookup's credential to. */
  #realmUrl(ctx: LookupContext, realm: string): URL {
    let url: URL;
    try {
      url = new URL(realm);
    } catch (error) {
      fail(ctx, 'protocol', `token realm is not a URL`, error);
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      fail(ctx, 'protocol', `token realm scheme ${url.protocol}`);
    }
    const credential = ctx.credential?.credential;
    const sendsSecret =
      credential?.username !== undefined || credential?.identityToken !== undefined;
    const plainAllowed = hostOptions(this.#hosts, url.host).plainHttp === true;
    if (sendsSecret && url.protocol === 'http:' && !plainAllowed) {
      fail(ctx, 'protocol', `token realm ${url.host} is plain HTTP; refusing to send credentials`);
    }
    return url;
  }
}

interface SendRequest {
  readonly method: 'GET' | 'HEAD' | 'POST';
  readonly url: URL;
  readonly accept: string;
  readonly authorization: string | undefined;
  readonly maxBytes: number;
  readonly body?: string;
  readonly contentType?: string;
  readonly caFrom?: string;
}

function basicAuthorization(username: string, password: string | undefined): string {
  return `Basic ${Buffer.from(`${username}:${password ?? ''}`, 'utf8').toString('base64')}`;
}

/**
 * The token request: an OAuth2 refresh-token POST when the credential is an identity token, else
 * the distribution token GET (with basic credentials when there are some).
 */
function tokenRequest(
  ctx: LookupContext,
  realm: URL,
  service: string | undefined,
  scope: string,
): SendRequest {
  const credential = ctx.credential?.credential;
  const common = { accept: 'application/json', maxBytes: MAX_TOKEN_BYTES };
  if (credential?.identityToken !== undefined) {
    const form = new URLSearchParams({
      grant_type: 'refresh_token',
      refresh_token: credential.identityToken,
      client_id: 'vault-inject',
      scope,
      ...(service !== undefined ? { service } : {}),
    });
    return {
      ...common,
      method: 'POST',
      url: realm,
      authorization: undefined,
      body: form.toString(),
      contentType: 'application/x-www-form-urlencoded',
    };
  }
  const url = new URL(realm);
  if (service !== undefined) url.searchParams.set('service', service);
  url.searchParams.set('scope', scope);
  const authorization =
    credential?.username !== undefined
      ? basicAuthorization(credential.username, credential.password)
      : undefined;
  return { ...common, method: 'GET', url, authorization };
}

function pickChallenge(header: string | undefined): Challenge | undefined {
  const challenges = parseChallenges(header ?? '');
  return (
    challenges.find((c) => c.scheme === 'bearer') ?? challenges.find((c) => c.scheme === 'basic')
  );
}

function parseTokenResponse(body: Buffer): { token: string; expiresIn: number } | undefined {
  try {
    const parsed = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
    const token = typeof parsed['token'] === 'string' ? parsed['token'] : parsed['access_token'];
    if (typeof token !== 'string' || token === '') return undefined;
    const expiresIn =
      typeof parsed['expires_in'] === 'number' ? parsed['expires_in'] : DEFAULT_TOKEN_SECONDS;
    return { token, expiresIn };
  } catch {
    return undefined;
  }
}
