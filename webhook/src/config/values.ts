/**
 * The value syntaxes of flags and variables: durations, booleans and comma lists. They are the
 * init program's own parsers (init-binary/src/contract/), so that a webhook flag, an annotation
 * and an init program variable accept exactly the same text (`1.5s`, `2m1h`, `30`).
 */
import { parseDurationMs } from '../../../init-binary/src/contract/index.ts';

export { parseBoolean, parseList } from '../../../init-binary/src/contract/index.ts';

/** A duration in whole milliseconds; `undefined` when it is not one. */
export function parseDuration(text: string): number | undefined {
  const ms = parseDurationMs(text);
  return ms === undefined ? undefined : Math.round(ms);
}
