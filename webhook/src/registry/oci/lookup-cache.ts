/**
 * The lookup's caches, in memory and per credential identity (a lookup answers only from data
 * fetched with one of its own credentials):
 *   - tag → digest for `tagTtlMs` (short: tags move); an expired entry is still seen by
 *     `staleDigest` so one HEAD can revalidate it;
 *   - digest (+ platform) → config, forever, bounded by an LRU (content-addressed and verified).
 */
import { LruCache, type Clock } from './lru.ts';
import { identityOf, type Outcome, type Prepared, type Resolved } from './lookup-types.ts';
import { formatPlatform } from './platform.ts';

interface LookupCacheOptions {
  readonly tagTtlMs: number;
  readonly tagCacheSize: number;
  readonly configCacheSize: number;
  readonly now: Clock;
}

export class LookupCache {
  readonly #tags: LruCache<string, string>;
  readonly #configs: LruCache<string, Resolved>;

  constructor(options: LookupCacheOptions) {
    this.#tags = new LruCache({
      max: options.tagCacheSize,
      ttlMs: options.tagTtlMs,
      now: options.now,
    });
    this.#configs = new LruCache({ max: options.configCacheSize });
  }

  #tagKey(p: Prepared, identity: string): string {
    return `${identity}|${p.ref.registry}/${p.ref.repository}:${p.ref.tag ?? ''}`;
  }

  #configKey(p: Prepared, identity: string, digest: string): string {
    return `${identity}|${p.ref.registry}/${p.ref.repository}@${digest}|${formatPlatform(p.platform)}`;
  }

  /** The digest the tag pointed to, while it is fresh. */
  digest(p: Prepared, identity: string): string | undefined {
    return this.#tags.get(this.#tagKey(p, identity));
  }

  setDigest(p: Prepared, identity: string, digest: string): void {
    this.#tags.set(this.#tagKey(p, identity), digest);
  }

  /** An expired tag whose config is still cached: worth a HEAD to revalidate. */
  staleDigest(p: Prepared, identity: string): string | undefined {
    const stale = this.#tags.peekStale(this.#tagKey(p, identity));
    if (stale === undefined) return undefined;
    return this.#configs.peekStale(this.#configKey(p, identity, stale)) !== undefined
      ? stale
      : undefined;
  }

  config(p: Prepared, identity: string, digest: string): Resolved | undefined {
    return this.#configs.get(this.#configKey(p, identity, digest));
  }

  setConfig(p: Prepared, identity: string, resolved: Resolved): void {
    this.#configs.set(this.#configKey(p, identity, resolved.digest), resolved);
  }

  /**
   * A cached answer fetched with one of this lookup's own credentials (the first in order that has
   * one): any of them can read the image, so the pod can pull it.
   */
  answer(p: Prepared): Outcome | undefined {
    for (const [winner, credential] of p.candidates.entries()) {
      const identity = identityOf(credential);
      const digest = p.ref.digest ?? this.digest(p, identity);
      const cached = digest !== undefined ? this.config(p, identity, digest) : undefined;
      if (cached !== undefined) {
        return {
          resolved: cached,
          cacheHit: true,
          shared: false,
          upstreamRequests: 0,
          winner,
          tried: 0,
        };
      }
    }
    return undefined;
  }
}
