/**
 * Logs go to stderr only, synchronously (the process may exec a moment later), as JSON lines in
 * the webhook's shape (`{"level":"info","time":"2026-01-01T00:00:00.000Z","msg":"..."}`) unless
 * VAULT_JSON_LOG=false asks for text. Callers pass names, paths and counts, never a value; fields
 * are primitives only. The failure line of main.ts is not a log: it stays one line of text.
 */
import type { LogLevel } from './config.ts';

// node:fs through getBuiltinModule, as everywhere in the program (see command.ts).
const { writeSync } = process.getBuiltinModule('node:fs');

/**
 * Milliseconds since the process started, for the debug timeline. Not `performance.now()`: the
 * first touch of the `performance` global loads perf_hooks (~1 ms of every start).
 */
export function uptimeMs(): number {
  return Math.round(process.uptime() * 1000);
}

export type LogFields = Readonly<Record<string, string | number | boolean | undefined>>;

export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
}

const RANK: Readonly<Record<LogLevel, number>> = { debug: 10, info: 20, warn: 30, error: 40 };

const RESERVED: ReadonlySet<string> = new Set(['level', 'time', 'msg']);

export interface LoggerOptions {
  readonly level: LogLevel;
  /** JSON lines (the default, VAULT_JSON_LOG); else `vault-inject-env: LEVEL: message k=v`. */
  readonly json: boolean;
  /** Where lines go; stderr by default. */
  readonly write?: (line: string) => void;
}

export function createLogger(options: LoggerOptions): Logger {
  const write = options.write ?? ((line: string) => writeSync(2, line));
  const min = RANK[options.level];
  const emit = (level: LogLevel, message: string, fields: LogFields = {}): void => {
    if (RANK[level] < min) return;
    const defined = Object.entries(fields).filter(([, v]) => v !== undefined);
    if (options.json) {
      // The webhook's shape: string level, ISO 8601 UTC time, message; then the fields, which
      // never replace those three.
      const record = {
        level,
        time: new Date().toISOString(),
        msg: message,
        ...Object.fromEntries(defined.filter(([k]) => !RESERVED.has(k))),
      };
      write(`${JSON.stringify(record)}\n`);
    } else {
      const rest = defined.map(([k, v]) => ` ${k}=${JSON.stringify(v)}`).join('');
      write(`vault-inject-env: ${level}: ${message}${rest}\n`);
    }
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
  };
}

/** For tests and for the moments before the configuration is known. */
export const silentLogger: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};
