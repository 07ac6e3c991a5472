/**
 * A bounded least-recently-used map with an optional time to live per entry. `now` is injected so
 * tests control time. An expired entry is a miss for `get` but stays readable through `peekStale`
 * (to revalidate it) until size pressure evicts it like any other old entry.
 */

export type Clock = () => number;

interface Slot<V> {
  readonly value: V;
  readonly expiresAt: number;
}

export class LruCache<K, V> {
  readonly #max: number;
  readonly #ttlMs: number;
  readonly #now: Clock;
  readonly #map = new Map<K, Slot<V>>();

  /** `ttlMs` Infinity: entries live until evicted. */
  constructor(options: { max: number; ttlMs?: number; now?: Clock }) {
    if (!Number.isInteger(options.max) || options.max < 1) {
      throw new RangeError(`LRU size must be a positive integer, got ${options.max}`);
    }
    this.#max = options.max;
    this.#ttlMs = options.ttlMs ?? Infinity;
    this.#now = options.now ?? Date.now;
  }

  get size(): number {
    return this.#map.size;
  }

  get(key: K): V | undefined {
    const slot = this.#map.get(key);
    // An expired entry stays (for peekStale) until size pressure evicts it.
    if (slot === undefined || slot.expiresAt <= this.#now()) return undefined;
    this.#map.delete(key);
    this.#map.set(key, slot); // most recently used goes last
    return slot.value;
  }

  /** The value even when expired (for revalidation), without touching recency. */
  peekStale(key: K): V | undefined {
    return this.#map.get(key)?.value;
  }

  set(key: K, value: V): void {
    this.#map.delete(key);
    this.#map.set(key, { value, expiresAt: this.#now() + this.#ttlMs });
    while (this.#map.size > this.#max) {
      const oldest = this.#map.keys().next();
      if (oldest.done === true) break;
      this.#map.delete(oldest.value);
    }
  }

  delete(key: K): void {
    this.#map.delete(key);
  }

  clear(): void {
    this.#map.clear();
  }
}
