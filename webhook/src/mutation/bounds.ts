/**
 * The work one review may cost. The contract's parser stops at the first reference over a bound
 * (MAX_REFERENCES_PER_VALUE in one value, a ReferenceBudget of MAX_REFERENCES_PER_POD shared by
 * the whole pod), and long work gives the event loop a turn every few milliseconds, so one
 * hostile review never starves `/healthz` or the other reviews, and the review deadline can fire.
 * What is told back of a pod is capped too.
 */
import {
  MAX_REFERENCES_PER_POD,
  MAX_REFERENCES_PER_VALUE,
} from '../../../init-binary/src/contract/index.ts';

export { MAX_REFERENCES_PER_POD, MAX_REFERENCES_PER_VALUE };

export function tooManyInValue(): string {
  return `holds more than ${MAX_REFERENCES_PER_VALUE} references, the most one value may hold`;
}

export function tooManyInPod(where: string): string {
  return `the pod holds more than ${MAX_REFERENCES_PER_POD} references, the most one pod may hold (passed at ${where})`;
}

/** How long synchronous work runs before it yields. */
const SLICE_MS = 5;

/**
 * Yields to the event loop when the current slice is used up; rejects with the signal's reason
 * once the review was abandoned (its deadline passed), so no work continues for nobody.
 */
export class Slicer {
  private last = performance.now();
  private readonly signal: AbortSignal | undefined;
  constructor(signal?: AbortSignal) {
    this.signal = signal;
  }
  async tick(): Promise<void> {
    this.signal?.throwIfAborted();
    if (performance.now() - this.last < SLICE_MS) return;
    await new Promise<void>((resolve) => setImmediate(resolve));
    this.last = performance.now();
    this.signal?.throwIfAborted();
  }
}

/** The most characters of one problem or warning told back (the rest is counted). */
export const MAX_MESSAGE_CHARS = 500;
/** The most problems in one denial, and warnings in one answer, told back (the rest counted). */
export const MAX_ITEMS = 20;

/** `text` cut to `max` characters with an ellipsis and the count of what was left out. */
export function capText(text: string, max = MAX_MESSAGE_CHARS): string {
  if (text.length <= max) return text;
  return `${text.slice(0, max)}… (${text.length - max} more characters)`;
}

/**
 * At most `MAX_ITEMS` of `items`, each capped, the rest said by their count, so a hostile pod
 * (10,000 names in an annotation, a 2 MiB value) never floods an answer or a log line.
 */
export function capItems(items: readonly string[], what: string): string[] {
  const shown = items.slice(0, MAX_ITEMS).map((i) => capText(i));
  const rest = items.length - shown.length;
  return rest > 0 ? [...shown, `… and ${rest} more ${what}`] : shown;
}
