/**
 * A subcommand of `vault-inject`: its flags (with their defaults and variables, which `--help`
 * prints) and how it runs. main.ts dispatches to one and turns its result into an exit code.
 */
import { sectionsHelp, type FlagSection } from '../config/flags.ts';

export type Env = Readonly<Record<string, string | undefined>>;

export interface Command {
  readonly name: string;
  /** `vault-inject NAME ...`: the usage line. */
  readonly usage: string;
  readonly summary: string;
  /** Every flag `--help` lists, in groups. */
  readonly flags: readonly FlagSection[];
  /** Said after the flags in `--help`. */
  readonly notes?: string;
  /** The exit code. Throws WebhookError E_CONFIG for bad flags (exit 2). */
  run(argv: readonly string[], env: Env): Promise<number>;
}

export function commandHelp(command: Command): string {
  const notes = command.notes ? `\n${command.notes.trimEnd()}\n` : '';
  return `usage: ${command.usage}\n\n${command.summary}\n\n${sectionsHelp(command.flags)}\n${notes}`;
}

/** `--help` or `-h` anywhere before a lone `--`. */
export function wantsHelp(argv: readonly string[]): boolean {
  const end = argv.indexOf('--');
  return (end < 0 ? argv : argv.slice(0, end)).some((a) => a === '--help' || a === '-h');
}
