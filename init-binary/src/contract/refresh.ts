/**
 * Daemon refresh (docs/init-program.md#refresh): how often the init program re-reads the secrets
 * behind the app's files and environment, and how the app learns of a change: a signal, or a
 * restart with the new environment. The webhook validates the annotations with these rules and
 * the init program reads its variables with them. Pure.
 */
import { parseDurationMs } from './values.ts';

/** The shortest refresh interval: a tighter loop only loads Vault. */
export const MIN_REFRESH_MS = 1000;

/** Signals an app may be told to reload with (never SIGKILL/SIGSTOP, which cannot be handled). */
export const RELOAD_SIGNALS = [
  'SIGHUP',
  'SIGUSR1',
  'SIGUSR2',
  'SIGINT',
  'SIGQUIT',
  'SIGTERM',
  'SIGWINCH',
] as const;
export type ReloadSignal = (typeof RELOAD_SIGNALS)[number];

/** `restart`: stop the app and start it again; `signal`: send the reload signal (SIGHUP by default). */
export const RELOAD_MODES = ['signal', 'restart'] as const;
export type ReloadMode = (typeof RELOAD_MODES)[number];

/** What the init program does when a value changed. */
export type Reload =
  | { readonly kind: 'none' }
  | { readonly kind: 'signal'; readonly signal: ReloadSignal }
  | { readonly kind: 'restart' };

/** The interval in ms, or the problem (the end of a sentence). */
export function parseRefreshInterval(raw: string): number | { problem: string } {
  const ms = parseDurationMs(raw.trim());
  if (ms === undefined || ms <= 0) {
    return { problem: 'is not a positive duration such as 30s, 5m or 1h' };
  }
  if (ms < MIN_REFRESH_MS) return { problem: 'is shorter than 1s' };
  return Math.round(ms);
}

/** `HUP`, `sighup` or `SIGHUP` → `SIGHUP`; undefined when it is none of RELOAD_SIGNALS. */
export function parseReloadSignal(raw: string): ReloadSignal | undefined {
  const upper = raw.trim().toUpperCase();
  const name = upper.startsWith('SIG') ? upper : `SIG${upper}`;
  return RELOAD_SIGNALS.find((s) => s === name);
}

export function parseReloadMode(raw: string): ReloadMode | undefined {
  const lower = raw.trim().toLowerCase();
  return RELOAD_MODES.find((m) => m === lower);
}

/**
 * The reload the two settings ask for, or the problem: `restart` with a signal is a
 * contradiction; `signal` alone sends SIGHUP; a signal alone means `signal`.
 */
export function reloadOf(
  mode: ReloadMode | undefined,
  signal: ReloadSignal | undefined,
): Reload | { problem: string } {
  if (mode === 'restart') {
    if (signal !== undefined) return { problem: 'restart does not send a reload signal' };
    return { kind: 'restart' };
  }
  if (mode === 'signal' || signal !== undefined) {
    return { kind: 'signal', signal: signal ?? 'SIGHUP' };
  }
  return { kind: 'none' };
}
