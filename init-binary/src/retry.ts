/**
 * Retries with capped exponential backoff and full jitter, inside one deadline. Pure policy: the
 * caller says which errors are worth another try (connection errors and 5xx; never a 4xx).
 */

export interface RetryOptions {
  /** Aborts when the run's budget (VAULT_CLIENT_TIMEOUT) is spent. */
  readonly signal: AbortSignal;
  readonly retryable: (err: unknown) => boolean;
  /** First delay ceiling in ms, doubled per attempt up to `capMs`. */
  readonly baseMs?: number;
  readonly capMs?: number;
  /** Injected for tests. */
  readonly random?: () => number;
  readonly sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  readonly onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
}

/** The deadline passed while a retryable error kept happening; `lastError` is the last one. */
export class DeadlineError extends Error {
  readonly code = 'E_DEADLINE';
  readonly attempts: number;
  constructor(attempts: number, lastError: unknown) {
    super(`gave up after ${attempts} attempt(s): the client timeout passed`, { cause: lastError });
    this.name = 'DeadlineError';
    this.attempts = attempts;
  }
}

export async function withRetry<T>(fn: () => Promise<T>, options: RetryOptions): Promise<T> {
  const { signal, retryable, baseMs = 50, capMs = 1000 } = options;
  const random = options.random ?? Math.random;
  const sleep = options.sleep ?? abortableSleep;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (signal.aborted) throw new DeadlineError(attempt, err);
      if (!retryable(err)) throw err;
      const delay = Math.floor(random() * Math.min(capMs, baseMs * 2 ** (attempt - 1)));
      options.onRetry?.(err, attempt, delay);
      try {
        await sleep(delay, signal);
      } catch {
        throw new DeadlineError(attempt, err);
      }
    }
  }
}

/** setTimeout as a promise that rejects when `signal` aborts. */
export function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
