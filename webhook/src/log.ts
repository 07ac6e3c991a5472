/**
 * The webhook's logger: one JSON object per line, in the shape the init program writes too:
 * `{"level":"info","time":"2026-01-01T00:00:00.000Z","msg":"..."}` (a string level, ISO time).
 */
import pino, { type DestinationStream, type Logger } from 'pino';

export function createLogger(level: string, destination?: DestinationStream): Logger {
  const options = {
    level,
    base: undefined,
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
  };
  return destination ? pino(options, destination) : pino(options);
}
