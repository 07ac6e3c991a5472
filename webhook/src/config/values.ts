/**
 * The value syntaxes of flags and variables: durations, booleans and comma lists, the same ones
 * the init program and the annotations accept.
 */

const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * A Go duration (`10s`, `1m30s`, `1.5s`, `2m1h`, `250ms`) or a bare number of seconds (`30`) →
 * milliseconds; `undefined` when it is neither.
 */
export function parseDuration(text: string): number | undefined {
  if (/^\d+(\.\d+)?$/.test(text)) return Math.round(Number(text) * 1000);
  if (!/^(\d+(\.\d+)?(ms|s|m|h))+$/.test(text)) return undefined;
  let ms = 0;
  for (const m of text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) {
    ms += Number(m[1]) * (UNIT_MS[m[2] ?? ''] ?? 0);
  }
  return Number.isFinite(ms) ? Math.round(ms) : undefined;
}

/** Go's strconv.ParseBool; `undefined` for anything else. */
export function parseBoolean(text: string): boolean | undefined {
  if (['1', 't', 'T', 'true', 'TRUE', 'True'].includes(text)) return true;
  if (['0', 'f', 'F', 'false', 'FALSE', 'False'].includes(text)) return false;
  return undefined;
}

/** `a, b,,c` → `['a', 'b', 'c']`. */
export function parseList(text: string): string[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}
