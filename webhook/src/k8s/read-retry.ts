/**
 * One apiserver read, bounded and retried. A read that gets no answer in time, or fails without an
 * HTTP answer (connection reset, refused) or with a 429/5xx, is tried again while the review has
 * time; if it still fails the review is denied naming the object and the timeout
 * (E_KUBERNETES_READ), never treated as if the object did not exist. An HTTP answer such as 403 or
 * 404 is an answer: it is returned to the caller as it is, at once.
 */
import { ErrorCode, WebhookError } from '../errors.ts';

/** The object a read is for, as its errors and log lines name it. */
interface ReadTarget {
  readonly kind: 'secret' | 'serviceaccount' | 'configmap';
  readonly namespace: string;
  readonly name: string;
}

/** A failed attempt that will be (or was the last to be) retried: for the log, never a body. */
export interface FailedRead extends ReadTarget {
  readonly attempt: number;
  /** `timeout`, an HTTP status, or an error code such as `ECONNRESET`. */
  readonly status: number | string;
  /** In words: `no answer within 500 ms`, `HTTP 503`, `ECONNRESET: socket hang up`. */
  readonly cause: string;
}

export interface RetryPolicy {
  /** Per attempt. */
  readonly timeoutMs: number;
  /** Attempts in all (default 2). */
  readonly attempts?: number;
  readonly onFailedAttempt?: (failed: FailedRead) => void;
  /** Before another attempt: e.g. a new connection pool, not the one that stalled. */
  readonly beforeRetry?: () => void;
}

/** The HTTP status of a client-node error (`ApiException.code`), if the apiserver answered. */
export function httpStatusOf(err: unknown): number | undefined {
  // DOMException carries a numeric `code` too (23 for TimeoutError): not an HTTP status.
  if (err instanceof DOMException) return undefined;
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'number' && code >= 100 && code <= 599 ? code : undefined;
}

class AttemptTimeout extends Error {
  constructor(ms: number) {
    super(`no answer within ${ms} ms`);
    this.name = 'AttemptTimeout';
  }
}

/** `work`, or a rejection when the attempt's time is up or the review gave up. */
function bounded<T>(
  work: Promise<T>,
  timeoutMs: number,
  signal: AbortSignal | undefined,
): Promise<T> {
  if (signal?.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => finish(() => reject(new AttemptTimeout(timeoutMs))), timeoutMs);
    const stop = (): void => finish(() => reject(signal?.reason as Error));
    const finish = (settle: () => void): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', stop);
      settle();
    };
    signal?.addEventListener('abort', stop, { once: true });
    work.then(
      (value) => finish(() => resolve(value)),
      (err: unknown) => finish(() => reject(err as Error)),
    );
  });
}

/** What went wrong, if it is worth another try: timeout, no HTTP answer, 429 or 5xx. */
function retryable(err: unknown): { status: number | string; cause: string } | undefined {
  if (err instanceof AttemptTimeout) return { status: 'timeout', cause: err.message };
  const status = httpStatusOf(err);
  if (status !== undefined) {
    return status === 429 || status >= 500 ? { status, cause: `HTTP ${status}` } : undefined;
  }
  const code = (err as { code?: unknown } | null)?.code;
  const cause = (err as { cause?: { code?: unknown } } | null)?.cause?.code ?? code;
  const name = typeof cause === 'string' ? cause : 'error';
  const message = err instanceof Error ? err.message : String(err);
  return { status: name, cause: `${name}: ${message}`.slice(0, 200) };
}

function describe(target: ReadTarget): string {
  const kind = target.kind === 'serviceaccount' ? 'service account' : target.kind;
  return `${kind} ${target.namespace}/${target.name}`;
}

/**
 * `read()` with up to `attempts` tries of `timeoutMs` each, within `signal` (the review's). The
 * caller's signal firing ends it at once with its reason.
 */
export async function readWithRetry<T>(
  target: ReadTarget,
  read: () => Promise<T>,
  policy: RetryPolicy,
  signal?: AbortSignal,
): Promise<T> {
  const attempts = Math.max(policy.attempts ?? 2, 1);
  let last: { status: number | string; cause: string } | undefined;
  for (let attempt = 1; attempt <= attempts; attempt += 1) {
    try {
      return await bounded(read(), policy.timeoutMs, signal);
    } catch (err) {
      if (signal?.aborted) throw err;
      last = retryable(err);
      if (last === undefined) throw err;
      policy.onFailedAttempt?.({ ...target, attempt, ...last });
      if (attempt < attempts) policy.beforeRetry?.();
    }
  }
  const tries = attempts === 1 ? '1 try' : `${attempts} tries`;
  throw new WebhookError(
    ErrorCode.KUBERNETES_READ,
    `${describe(target)} could not be read from the Kubernetes API: ${last?.cause ?? 'no answer'} (${tries})`,
  );
}
