/**
 * The flag machinery every subcommand shares: a flag table (`FlagSpec`), argv and the environment
 * read into `FlagValues` (the flag wins over its variable, then over the Bank-Vaults name of that
 * variable when the flag has one, then over the default), and
 * `Problems`, which collects every bad value so that one error names them all, each with the flag,
 * the variable it came from and why it is refused. Nothing else in the webhook reads `process.env`
 * or `process.argv`: main.ts hands them in.
 */
import { ErrorCode, WebhookError } from '../errors.ts';
import { parseBoolean, parseDuration, parseList } from './values.ts';

export interface FlagSpec {
  readonly flag: string;
  /** '' for a flag without an environment variable. */
  readonly env: string;
  /**
   * The variable Bank-Vaults' webhook reads for the same setting (e.g. `VAULT_ROLE`), read when
   * `env` is not set, so that a Bank-Vaults deployment's environment works unchanged.
   */
  readonly envAlias?: string;
  readonly default: string;
  /** A flag given without `=value` means `true`. */
  readonly boolean?: true;
  /** May be given more than once; the values are joined with `,` (the variable is a comma list). */
  readonly repeatable?: true;
  readonly help: string;
}

/** Flags that belong together, under a title in `--help`. */
export interface FlagSection {
  readonly title: string;
  readonly flags: readonly FlagSpec[];
}

/** Where a value came from, for messages. */
type Origin = 'flag' | 'env' | 'default';

type Env = Readonly<Record<string, string | undefined>>;

/** Every flag of one command with its value, and what was wrong with argv itself. */
export class FlagValues {
  readonly #values = new Map<string, { value: string; origin: Origin; variable?: string }>();
  /** Unknown flags and flags without their value, in argv order. */
  readonly problems: readonly string[];
  readonly specs: ReadonlyMap<string, FlagSpec>;

  constructor(
    specs: ReadonlyMap<string, FlagSpec>,
    given: ReadonlyMap<string, string>,
    env: Env,
    problems: readonly string[],
  ) {
    this.specs = specs;
    this.problems = Object.freeze([...problems]);
    for (const [name, spec] of specs) {
      const fromFlag = given.get(name);
      const variable = [spec.env, spec.envAlias ?? ''].find(
        (v) => v !== '' && env[v] !== undefined,
      );
      if (fromFlag !== undefined) this.#values.set(name, { value: fromFlag, origin: 'flag' });
      else if (variable !== undefined) {
        this.#values.set(name, { value: env[variable] ?? '', origin: 'env', variable });
      } else this.#values.set(name, { value: spec.default, origin: 'default' });
    }
  }

  /** The value of `name` ('' for a flag this command does not have). */
  get(name: string): string {
    return this.#values.get(name)?.value ?? '';
  }

  origin(name: string): Origin {
    return this.#values.get(name)?.origin ?? 'default';
  }

  /** The variable the value came from (`env` or `envAlias`), if it came from one. */
  variable(name: string): string | undefined {
    return this.#values.get(name)?.variable;
  }

  /** `--name`, and the variable when the value came from there. */
  describe(name: string): string {
    const variable = this.variable(name);
    return variable === undefined ? `--${name}` : `--${name} (from ${variable})`;
  }
}

/** Splits `--name=value` / `--name value` / `--flag` into the values of known flags. */
function scan(
  argv: readonly string[],
  specs: ReadonlyMap<string, FlagSpec>,
): { given: Map<string, string>; positional: string[]; problems: string[] } {
  const given = new Map<string, string>();
  const positional: string[] = [];
  const problems: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (!arg.startsWith('--') || arg === '--') {
      positional.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    const spec = specs.get(name);
    let value: string | undefined;
    if (!spec) problems.push(`unknown flag --${name}`);
    else if (eq >= 0) value = arg.slice(eq + 1);
    else if (spec.boolean) value = 'true';
    else if (i + 1 < argv.length) value = argv[++i] as string;
    else problems.push(`flag --${name} needs a value`);
    if (spec === undefined || value === undefined) continue;
    const before = given.get(name);
    given.set(name, spec.repeatable && before !== undefined ? `${before},${value}` : value);
  }
  return { given, positional, problems };
}

/**
 * Reads the flags of one command from `argv` and `env`. Never throws: what is wrong with argv is
 * kept in `flags.problems` and reported with the values' problems (`Problems`).
 */
export function readArgs(
  specs: readonly FlagSpec[],
  argv: readonly string[],
  env: Env,
): { flags: FlagValues; positional: string[] } {
  const table = new Map(specs.map((s) => [s.flag, s]));
  const { given, positional, problems } = scan(argv, table);
  return { flags: new FlagValues(table, given, env, problems), positional };
}

/** The one error naming every problem; a single problem is the message itself. */
function configProblems(problems: readonly string[]): WebhookError {
  const message =
    problems.length === 1
      ? (problems[0] as string)
      : `${problems.length} problems with flags and environment variables:\n  ${problems.join('\n  ')}`;
  return new WebhookError(ErrorCode.CONFIG, message);
}

/**
 * Collects the problems of a command's values. Each reader returns a usable placeholder when the
 * value is bad (NaN for a duration), so that parsing goes on and every problem is found; checks
 * that combine two values skip a value already found bad.
 */
export class Problems<N extends string = string> {
  readonly #list: string[];
  readonly flags: FlagValues;

  constructor(flags: FlagValues) {
    this.flags = flags;
    this.#list = [...flags.problems];
  }

  get count(): number {
    return this.#list.length;
  }

  /** `--name: why`, naming the variable when the value came from one. */
  add(name: N, why: string): void {
    this.#list.push(`${this.flags.describe(name)}: ${why}`);
  }

  /** A problem of several flags together, written out in full. */
  addText(message: string): void {
    this.#list.push(message);
  }

  text(name: N): string {
    return this.flags.get(name);
  }

  duration(name: N): number {
    const value = this.flags.get(name);
    const ms = parseDuration(value);
    if (ms === undefined) {
      this.add(name, `"${value}" is not a duration like 5s, 1m30s, 250ms or 30 (seconds)`);
      return Number.NaN;
    }
    return ms;
  }

  /** A duration above 0. */
  positiveDuration(name: N): number {
    const ms = this.duration(name);
    if (ms <= 0) this.add(name, 'must be more than 0');
    return ms > 0 ? ms : Number.NaN;
  }

  bool(name: N): boolean {
    const value = this.flags.get(name);
    const parsed = value === '' ? false : parseBoolean(value);
    if (parsed === undefined) this.add(name, `"${value}" is not true or false`);
    return parsed ?? false;
  }

  oneOf<T extends string>(name: N, allowed: readonly T[]): T {
    const value = this.flags.get(name);
    if (!(allowed as readonly string[]).includes(value)) {
      this.add(name, `"${value}" is not one of ${allowed.join(', ')}`);
      return allowed[0] as T;
    }
    return value as T;
  }

  list(name: N): string[] {
    return parseList(this.flags.get(name));
  }

  /** A whole number from `min` to `max`. */
  integer(name: N, min: number, max: number): number {
    const value = this.flags.get(name);
    const n = /^\d+$/.test(value) ? Number(value) : Number.NaN;
    if (!(n >= min && n <= max)) {
      this.add(name, `"${value}" is not a whole number from ${min} to ${max}`);
      return Number.NaN;
    }
    return n;
  }

  /** Throws one WebhookError (E_CONFIG) naming every problem found so far. */
  throwIfAny(): void {
    if (this.#list.length > 0) throw configProblems(this.#list);
  }
}

/** Reads one section with its own `Problems`; throws when anything is wrong. */
export function collect<T>(flags: FlagValues, read: (p: Problems) => T): T {
  const problems = new Problems(flags);
  const value = read(problems);
  problems.throwIfAny();
  return value;
}

const COLUMN = 34;

/** `--help` text for flag sections: a title each, then each flag as `flagHelp` shows it. */
export function sectionsHelp(sections: readonly FlagSection[]): string {
  return sections.map((s) => `${s.title}:\n${flagHelp(s.flags)}`).join('\n\n');
}

/** `--help` text for a flag table: each flag with its meaning, default and variable. */
export function flagHelp(specs: readonly FlagSpec[]): string {
  return specs
    .map((s) => {
      const name = `  --${s.flag}${s.boolean ? '[=true|false]' : ' VALUE'}`;
      const facts = [
        `default: ${s.default === '' ? '(empty)' : s.default}`,
        ...(s.env !== '' ? [`env: ${s.env}${s.envAlias ? ` or ${s.envAlias}` : ''}`] : []),
        ...(s.repeatable ? ['repeatable'] : []),
      ].join('; ');
      const pad =
        name.length < COLUMN ? ' '.repeat(COLUMN - name.length) : `\n${' '.repeat(COLUMN)}`;
      return `${name}${pad}${s.help}\n${' '.repeat(COLUMN)}(${facts})`;
    })
    .join('\n');
}
