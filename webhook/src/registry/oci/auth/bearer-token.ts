/**
 * Bearer tokens (the distribution token spec): asked of the challenge's realm for
 * `repository:REPO:pull` (anonymously, with Basic credentials, or with an identity token as an
 * OAuth2 refresh token) and kept per realm, service, scope and credential until shortly before
 * they expire.
 */
import { LruCache, type Clock } from '../lru.ts';
import { fail, statusFailure, type LookupContext, type Send } from '../request-context.ts';
import type { RegistryHosts } from '../transport.ts';
import { tokenRequest } from './anonymous.ts';
import type { Challenge } from './challenge.ts';
import { checkTokenRealm } from './token-realm.ts';

const MAX_TOKEN_BYTES = 1024 * 1024;
const DEFAULT_TOKEN_SECONDS = 60;

interface CachedToken {
  readonly token: string;
  readonly expiresAt: number;
}

interface BearerTokensOptions {
  readonly send: Send;
  readonly hosts: RegistryHosts;
  readonly now: Clock;
  /** Only realms on the registry's own host name (token-realm.ts). */
  readonly realmSameHost?: boolean;
}

/** Which token: for this challenge and scope; `fresh` skips the cache (the cached one was refused). */
interface TokenWanted {
  readonly challenge: Challenge;
  readonly scope: string;
  readonly fresh: boolean;
}

export function parseTokenResponse(body: Buffer): { token: string; expiresIn: number } | undefined {
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

export class BearerTokens {
  readonly #send: Send;
  readonly #hosts: RegistryHosts;
  readonly #now: Clock;
  readonly #realmSameHost: boolean;
  readonly #tokens: LruCache<string, CachedToken>;

  constructor(options: BearerTokensOptions) {
    this.#send = options.send;
    this.#hosts = options.hosts;
    this.#now = options.now;
    this.#realmSameHost = options.realmSameHost ?? false;
    this.#tokens = new LruCache({ max: 1024, now: options.now });
  }

  /** A token for the lookup's credential (anonymous without one). */
  async token(ctx: LookupContext, { challenge, scope, fresh }: TokenWanted): Promise<string> {
    const realm = challenge.params['realm'];
    if (realm === undefined) fail(ctx, 'unauthorized', 'Bearer challenge without a realm');
    const service = challenge.params['service'];
    const key = [realm, service ?? '', scope, ctx.credential?.identity ?? 'anonymous'].join('|');
    const cached = fresh ? undefined : this.#tokens.get(key);
    if (cached !== undefined && cached.expiresAt > this.#now()) return cached.token;

    const credential = ctx.credential?.credential;
    const checked = checkTokenRealm(realm, {
      hosts: this.#hosts,
      registry: ctx.ref.registry,
      sameHost: this.#realmSameHost,
    });
    if ('refused' in checked) fail(ctx, 'protocol', checked.refused, checked.cause);
    const { url } = checked;
    const request = tokenRequest(url, credential, { service, scope });
    const response = await this.#send(ctx, {
      ...request,
      accept: 'application/json',
      maxBytes: MAX_TOKEN_BYTES,
      caFrom: ctx.ref.registry,
    });
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
}
