/**
 * Concurrent identical lookups share one upstream operation. Each caller waits with its own
 * AbortSignal: a caller that gives up is released at once without disturbing the others, and the
 * shared operation is aborted only when every caller has given up. The operation's own deadline is
 * its business (it gets a signal it must honour).
 */

interface Flight<T> {
  readonly promise: Promise<T>;
  readonly controller: AbortController;
  waiters: number;
}

export class SingleFlight<K, T> {
  readonly #flights = new Map<K, Flight<T>>();

  /** Operations currently in flight (for tests and metrics). */
  get size(): number {
    return this.#flights.size;
  }

  /**
   * Run `operation` for `key`, or join the one already running. Resolves `shared: true` when this
   * caller joined an existing flight.
   */
  async run(
    key: K,
    operation: (signal: AbortSignal) => Promise<T>,
    signal?: AbortSignal,
  ): Promise<{ value: T; shared: boolean }> {
    signal?.throwIfAborted();
    let flight = this.#flights.get(key);
    const shared = flight !== undefined;
    if (flight === undefined) {
      const controller = new AbortController();
      const promise = operation(controller.signal).finally(() => {
        if (this.#flights.get(key) === created) this.#flights.delete(key);
      });
      const created: Flight<T> = { promise, controller, waiters: 0 };
      // Nobody may be left waiting; a rejection nobody awaits must not crash the process.
      promise.catch(() => undefined);
      this.#flights.set(key, created);
      flight = created;
    }
    flight.waiters += 1;
    try {
      return { value: await waitFor(flight.promise, signal), shared };
    } finally {
      flight.waiters -= 1;
      if (flight.waiters === 0 && signal?.aborted === true) {
        flight.controller.abort(signal.reason);
        if (this.#flights.get(key) === flight) this.#flights.delete(key);
      }
    }
  }
}

function waitFor<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise;
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error as Error);
      },
    );
  });
}
