// The bench's own arithmetic, kept apart from the timing so that it is unit-tested
// (test/unit/bench/stats.test.ts): percentiles, A/B round order, ours/theirs ratios, the CPU and
// memory of a process read from /proc, and the growth of a memory series over time.

/** The value at quantile `q` (0..1) of `values` (nearest rank on the sorted copy); NaN if empty. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank] ?? NaN;
}

/** The middle value; the mean of the two middle ones for an even count; NaN if empty. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const upper = sorted[mid] as number;
  return sorted.length % 2 === 1 ? upper : ((sorted[mid - 1] as number) + upper) / 2;
}

export type Side = 'ours' | 'theirs';

/**
 * Which side runs first in round `round` of an A/B comparison: ABBA order (AB, BA, BA, AB, ...), so
 * that each side runs first as often as second and a drift of the machine's load over the rounds
 * falls on both sides alike. Without a peer every round is ours alone.
 */
export function roundOrder(round: number, withPeer: boolean): readonly Side[] {
  if (!withPeer) return ['ours'];
  const step = round % 4;
  return step === 1 || step === 2 ? ['theirs', 'ours'] : ['ours', 'theirs'];
}

/** ours / theirs, or undefined when there is no usable peer number. */
export function ratio(ours: number, theirs: number | undefined): number | undefined {
  if (theirs === undefined || !Number.isFinite(theirs) || theirs === 0) return undefined;
  if (!Number.isFinite(ours)) return undefined;
  return ours / theirs;
}

/** One line: the metric, ours, theirs and ours/theirs ("Bank-Vaults: not available" without). */
export function compareLine(
  metric: string,
  values: { readonly ours: number; readonly theirs?: number | undefined },
  unit: string,
  digits = 1,
): string {
  const { ours, theirs } = values;
  const r = ratio(ours, theirs);
  const peer =
    theirs === undefined
      ? 'Bank-Vaults: not available'
      : `Bank-Vaults ${theirs.toFixed(digits)} ${unit}`;
  return `${metric}: ours ${ours.toFixed(digits)} ${unit}; ${peer}${r === undefined ? '' : `; ours/theirs ${r.toFixed(2)}x`}`;
}

export interface ProcStat {
  /** User plus system CPU time, in clock ticks. */
  readonly cpuTicks: number;
  /** Resident set size, in pages. */
  readonly rssPages: number;
}

/**
 * Parses /proc/PID/stat. The command name (field 2) is in parentheses and may hold spaces or
 * parentheses itself, so the fields are counted from the last ")": utime and stime are fields 14
 * and 15, rss field 24 (proc(5)).
 */
export function parseProcStat(text: string): ProcStat {
  const close = text.lastIndexOf(')');
  if (close === -1) throw new Error('not a /proc/PID/stat line (no ")")');
  const fields = text
    .slice(close + 1)
    .trim()
    .split(/\s+/);
  // fields[0] is field 3 (state).
  const at = (field: number): number => {
    const v = Number(fields[field - 3]);
    if (!Number.isInteger(v)) throw new Error(`/proc/PID/stat: field ${field} is not a number`);
    return v;
  };
  return { cpuTicks: at(14) + at(15), rssPages: at(24) };
}

export interface ProcStatus {
  readonly rssKib: number;
  /** Peak RSS. */
  readonly hwmKib: number;
  /** Anonymous memory (heaps, buffers); the rest of RSS is mostly the program's mapped file. */
  readonly anonKib: number;
  readonly fileKib: number;
}

/** VmRSS, VmHWM, RssAnon and RssFile of /proc/PID/status, in KiB. */
export function parseProcStatus(text: string): ProcStatus {
  const field = (name: string): number => {
    const m = new RegExp(`^${name}:\\s+(\\d+) kB$`, 'm').exec(text);
    if (!m) throw new Error(`/proc/PID/status: no ${name}`);
    return Number(m[1]);
  };
  return {
    rssKib: field('VmRSS'),
    hwmKib: field('VmHWM'),
    anonKib: field('RssAnon'),
    fileKib: field('RssFile'),
  };
}

/** CPU milliseconds per request between two /proc/PID/stat readings. */
export function cpuMsPer(
  before: ProcStat,
  after: ProcStat,
  requests: number,
  ticksPerSecond: number,
): number {
  if (requests <= 0) return NaN;
  return ((after.cpuTicks - before.cpuTicks) * 1000) / ticksPerSecond / requests;
}

export interface Sample {
  /** Seconds since the start. */
  readonly t: number;
  readonly value: number;
}

/** Least-squares slope of value over t (value units per second); NaN below two distinct times. */
export function slope(samples: readonly Sample[]): number {
  const n = samples.length;
  if (n < 2) return NaN;
  const mt = samples.reduce((a, s) => a + s.t, 0) / n;
  const mv = samples.reduce((a, s) => a + s.value, 0) / n;
  let num = 0;
  let den = 0;
  for (const s of samples) {
    num += (s.t - mt) * (s.value - mv);
    den += (s.t - mt) ** 2;
  }
  return den === 0 ? NaN : num / den;
}

/**
 * Whether a memory series grows: the second half's slope (after warm-up) above `limitPerMinute`,
 * or its last value above the first half's peak by more than `tolerance` (a fraction).
 */
export function grows(
  samples: readonly Sample[],
  limitPerMinute: number,
  tolerance = 0.1,
): { grows: boolean; perMinute: number; firstHalfPeak: number; last: number } {
  const half = Math.floor(samples.length / 2);
  const first = samples.slice(0, Math.max(1, half));
  const second = samples.slice(half);
  const perMinute = slope(second) * 60;
  const firstHalfPeak = Math.max(...first.map((s) => s.value));
  const last = samples.at(-1)?.value ?? NaN;
  const up = perMinute > limitPerMinute || last > firstHalfPeak * (1 + tolerance);
  return { grows: up, perMinute, firstHalfPeak, last };
}

/** The stamp's line (scripts/bench/stamp.c): `MONOTONIC_NS MAXRSS_KIB CPU_US`; undefined if not one. */
export function parseStamp(
  line: string,
): { monotonicNs: bigint; maxRssKib: number; cpuUs: number } | undefined {
  const m = /^(\d+) (\d+) (\d+)$/.exec(line.trim());
  if (!m) return undefined;
  return { monotonicNs: BigInt(m[1] ?? '0'), maxRssKib: Number(m[2]), cpuUs: Number(m[3]) };
}
