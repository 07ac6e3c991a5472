/**
 * Bounds on the references parsed, so that hostile input costs bounded work: a value may hold at
 * most `maxPerValue` references, and a caller parsing many values (the webhook, one pod) can share
 * one ReferenceBudget across them. Parsing stops at the first reference over a bound.
 */
import { MalformedReferenceError } from './errors.ts';

/**
 * References one value may hold by default: far above any connection string, far below what
 * makes parsing a value costly. (Linux passes at most 128 KiB in one variable, about 10,000
 * of the shortest inline references.)
 */
export const MAX_REFERENCES_PER_VALUE = 1000;

/** A suggested bound for all the references of one pod (every container and source). */
export const MAX_REFERENCES_PER_POD = 10_000;

/**
 * More references than a bound allows. `message` names the bound, never a value. A kind of
 * MalformedReferenceError, so that whoever reports a malformed value (naming the variable) reports
 * this one the same way.
 */
export class TooManyReferencesError extends MalformedReferenceError {
  override readonly code: string = 'E_TOO_MANY_REFERENCES';
  readonly limit: number;
  constructor(message: string, limit: number) {
    super(message);
    this.name = 'TooManyReferencesError';
    this.limit = limit;
  }
}

/** A count of references shared by several parses; throws once more than `max` are taken. */
export class ReferenceBudget {
  readonly max: number;
  #used = 0;
  constructor(max: number = MAX_REFERENCES_PER_POD) {
    this.max = max;
  }
  /** References counted so far. */
  get used(): number {
    return this.#used;
  }
  /** Counts one reference; throws TooManyReferencesError when it is one too many. */
  take(): void {
    if (this.#used >= this.max) {
      throw new TooManyReferencesError(`more than ${this.max} references in all`, this.max);
    }
    this.#used++;
  }
}

export interface ReferenceLimits {
  /** At most this many references in one value (MAX_REFERENCES_PER_VALUE when absent). */
  readonly maxPerValue?: number;
  /** Counts every reference parsed against a bound shared with other values. */
  readonly budget?: ReferenceBudget;
}

/** Counts the `nth` reference of a value against `limits`; throws when it passes a bound. */
export function countReference(nth: number, limits: ReferenceLimits): void {
  const max = limits.maxPerValue ?? MAX_REFERENCES_PER_VALUE;
  if (nth > max) {
    throw new TooManyReferencesError(`more than ${max} references in one value`, max);
  }
  limits.budget?.take();
}
