/**
 * The value parsers shared by the webhook (flags and annotations) and the init program (its
 * environment), so that both accept exactly the same text. Each returns undefined for text it
 * cannot read; the caller names the flag, annotation or variable in its own error.
 */

const UNIT_MS: Readonly<Record<string, number>> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3, // U+00B5 MICRO SIGN, as Go accepts it
  μs: 1e-3, // U+03BC GREEK SMALL LETTER MU
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

const PLAIN_NUMBER = /^(?:\d+(?:\.\d*)?|\.\d+)$/;
/**
 * One `NUMBER UNIT` term of a Go duration, anchored where the last one ended. The micro signs are
 * escaped: a regex literal reaches the bundles as written, and one non-ASCII character makes V8
 * hold a whole bundle's source two bytes per character (docs/benchmarks.md).
 */
const TERM = /(\d+(?:\.\d*)?|\.\d+)(ns|us|\u00b5s|\u03bcs|ms|s|m|h)/y;

/**
 * A duration in milliseconds (possibly fractional), as Go's time.ParseDuration reads it
 * (`10s`, `1.5s`, `1m30s`, `2m1h`, `500ms`, `250us`, `0`), or a plain number of seconds (`30`), as
 * the init program has always accepted for VAULT_CLIENT_TIMEOUT. No sign: a negative duration is
 * never meant. Undefined for anything else, the empty text included.
 */
export function parseDurationMs(text: string): number | undefined {
  let ms: number;
  if (PLAIN_NUMBER.test(text)) {
    ms = Number(text) * 1000;
  } else {
    if (text === '') return undefined;
    ms = 0;
    TERM.lastIndex = 0;
    while (TERM.lastIndex < text.length) {
      const m = TERM.exec(text);
      if (!m) return undefined;
      ms += Number(m[1]) * (UNIT_MS[m[2] ?? ''] ?? Number.NaN);
    }
  }
  return Number.isFinite(ms) ? ms : undefined;
}

const TRUE: ReadonlySet<string> = new Set(['1', 't', 'T', 'true', 'TRUE', 'True']);
const FALSE: ReadonlySet<string> = new Set(['0', 'f', 'F', 'false', 'FALSE', 'False']);

/** Go's strconv.ParseBool, as Bank-Vaults reads its booleans; undefined for anything else. */
export function parseBoolean(text: string): boolean | undefined {
  if (TRUE.has(text)) return true;
  if (FALSE.has(text)) return false;
  return undefined;
}

/** A comma-separated list: items trimmed, empty items dropped (`a, b,,` is `a`, `b`). */
export function parseList(text: string | undefined): string[] {
  if (text === undefined) return [];
  return text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}
