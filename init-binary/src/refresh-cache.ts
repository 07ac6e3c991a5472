/**
 * The SecretApi a daemon resolves through (refresh.ts): what a refresh may re-read and what it must
 * not. A read without a lease (KV, most paths) goes to Vault every time. A read with a lease (a
 * dynamic secret) is kept: reading it again would create new credentials, and its lease is renewed
 * by the daemon. A write (`${>>vault:...}`, a PKI issue) is done once and kept, except a
 * re-issuable one (its value reaches the app: in a file, or in the environment with a restart)
 * that has a lifetime (its lease, or the `expiration` of a certificate): it is done again after
 * two thirds of it. Transit plaintexts are kept (the ciphertexts do not change).
 */
import { referencesOf } from './contract/references.ts';
import { stableJson, type Reference, type Secret, type SecretApi } from './resolve.ts';

/** The fraction of a write's lifetime after which it is done again. */
export const REISSUE_AT = 2 / 3;
/** A write is never re-issued sooner than this after the last time. */
const MIN_REISSUE_MS = 1000;

interface Written {
  readonly secret: Secret;
  /** When to write again (ms on `now`'s clock); undefined: never. */
  readonly dueAt: number | undefined;
}

export interface SecretCache {
  /** `api`, through the cache. */
  readonly api: SecretApi;
  /** Starts a later resolution: Vault is asked through `fresh()` from now on. */
  nextRound(): void;
  /** The earliest time a kept write is due again; undefined when none is. */
  nextDue(): number | undefined;
  /** The ids of the leases this cache replaces before they end (the daemon need not renew them). */
  reissuedLeaseIds(): ReadonlySet<string>;
}

/** The key of a write, for `writeKeysOf` and the cache alike. */
function writeKey(path: string, body: Readonly<Record<string, unknown>>): string {
  return `${path}\0${stableJson(body)}`;
}

/** The writes the references hold. */
export function writeKeysOf(refs: readonly Reference[]): Set<string> {
  const keys = new Set<string>();
  for (const r of refs) {
    for (const ref of referencesOf(r.parsed)) {
      if (ref.kind === 'write') keys.add(writeKey(ref.path, ref.body));
    }
  }
  return keys;
}

/**
 * When a write done at `at` should be done again: two thirds into the shorter of its lease and
 * its certificate's `expiration` (seconds since the epoch, on `wallNow`'s clock); undefined when
 * it has neither.
 */
export function reissueDelayMs(secret: Secret, wallNow: number): number | undefined {
  const lifetimes: number[] = [];
  if (secret.lease) lifetimes.push(secret.lease.ttlSeconds * 1000);
  const expiration = secret.data['expiration'];
  if (typeof expiration === 'number' && expiration > 0) {
    lifetimes.push(expiration * 1000 - wallNow);
  }
  if (lifetimes.length === 0) return undefined;
  return Math.max(MIN_REISSUE_MS, Math.min(...lifetimes) * REISSUE_AT);
}

export interface CacheOptions {
  /** The writes to re-issue (writeKeysOf the references whose value reaches the app). */
  readonly reissue: ReadonlySet<string>;
  /** A monotonic clock in ms (timers) and the wall clock (certificates' `expiration`). */
  readonly now: () => number;
  readonly wallNow?: () => number;
  /** The api for a later resolution (a session's reads are cached per resolution); `api` by default. */
  readonly fresh?: () => SecretApi;
}

export function secretCache(first: SecretApi, options: CacheOptions): SecretCache {
  const { reissue, now, wallNow = Date.now, fresh = () => first } = options;
  let api = first;
  const leased = new Map<string, Secret>();
  const writes = new Map<string, Written>();
  const decrypted = new Map<string, readonly (string | undefined)[]>();
  const cached: SecretApi = {
    async read(path, version) {
      const key = `${path}\0${version ?? ''}`;
      const kept = leased.get(key);
      if (kept) return kept;
      const secret = await api.read(path, version);
      if (secret?.lease) leased.set(key, secret);
      return secret;
    },
    async write(path, body) {
      const key = writeKey(path, body);
      const kept = writes.get(key);
      if (kept && (kept.dueAt === undefined || now() < kept.dueAt)) return kept.secret;
      const secret = await api.write(path, body);
      const delay = reissue.has(key) ? reissueDelayMs(secret, wallNow()) : undefined;
      writes.set(key, { secret, dueAt: delay === undefined ? undefined : now() + delay });
      return secret;
    },
    async decrypt(ciphertexts) {
      const key = ciphertexts.join('\0');
      const kept = decrypted.get(key);
      if (kept) return kept;
      const plain = await api.decrypt(ciphertexts);
      // Only a batch fully decrypted is kept: a failed one is asked again next time.
      if (plain.every((p) => p !== undefined)) decrypted.set(key, plain);
      return plain;
    },
  };
  return {
    api: cached,
    nextRound() {
      api = fresh();
    },
    nextDue() {
      let due: number | undefined;
      for (const w of writes.values()) {
        if (w.dueAt !== undefined && (due === undefined || w.dueAt < due)) due = w.dueAt;
      }
      return due;
    },
    reissuedLeaseIds() {
      const ids = new Set<string>();
      for (const w of writes.values()) {
        if (w.dueAt !== undefined && w.secret.lease) ids.add(w.secret.lease.id);
      }
      return ids;
    },
  };
}
