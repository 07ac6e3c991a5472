/**
 * The environment on both sides of the init program: what the launcher hid from Node, which
 * variables hold references, and what the app gets (docs/init-program.md: every setting removed
 * except the passthrough names, and the connection settings with our token on `vault:login`).
 */
import type { Config, Environment } from './config.ts';
import {
  BANK_VAULTS_LOGIN,
  BANK_VAULTS_SETTINGS,
  Env,
  INIT_SETTINGS,
  LOGIN_PASSTHROUGH,
} from './contract/names.ts';
import { ConfigError } from './errors.ts';
import { MalformedReferenceError } from './contract/errors.ts';
import { hasReference, parseEnvValue } from './contract/references.ts';
import type { Reference } from './resolve.ts';

/**
 * The launcher (bin/vault-inject-env) renames variables that would change how Node or the dynamic
 * loader behave (NODE_OPTIONS, LD_PRELOAD, …) to this prefix + name, so the app's settings never
 * reach the init program's runtime; they are restored for the app here. The app's own names with
 * this prefix come with it twice, so one strip gives every name back as the container set it.
 */
export const HIDDEN_PREFIX = 'VAULT_INJECT_HIDDEN_';

export type MutableEnv = Record<string, string>;

/**
 * An environment being built, with no prototype: any name is an own property, `__proto__`
 * included (on a plain object, assigning `__proto__` sets the prototype and the variable is
 * lost). `finished` turns it into a plain object holding the same own properties.
 */
function emptyEnv(): MutableEnv {
  return Object.create(null) as MutableEnv;
}

function finished(env: MutableEnv): MutableEnv {
  // Object.fromEntries defines each name as an own property, `__proto__` too.
  return Object.fromEntries(Object.entries(env));
}

/** The app's environment as the container defined it: hidden names restored, undefined dropped. */
export function restoreHidden(env: Environment): MutableEnv {
  const out = emptyEnv();
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined) continue;
    if (name.startsWith(HIDDEN_PREFIX)) {
      const original = name.slice(HIDDEN_PREFIX.length);
      if (original !== '') out[original] = value;
    } else if (!Object.hasOwn(out, name)) {
      out[name] = value;
    }
  }
  return finished(out);
}

/** Every name removed from the app's environment (but the passthrough names). */
const SETTINGS: ReadonlySet<string> = new Set([...INIT_SETTINGS, ...BANK_VAULTS_SETTINGS]);
const OWN: ReadonlySet<string> = new Set(INIT_SETTINGS);
/** Kept for the app on `VAULT_TOKEN=vault:login`: its own client's connection settings. */
const LOGIN_KEPT: readonly string[] = [...LOGIN_PASSTHROUGH, ...BANK_VAULTS_LOGIN];

/**
 * Bank-Vaults' settings in `env` that the init program does not act on and removes from the
 * app's environment (not passed through, not kept for `vault:login`), for one warning. Names only.
 */
export function ignoredSettings(env: Readonly<MutableEnv>, config: Config): string[] {
  return BANK_VAULTS_SETTINGS.filter(
    (name) =>
      !OWN.has(name) &&
      Object.hasOwn(env, name) &&
      !config.passthrough.has(name) &&
      !(config.loginPassthrough && LOGIN_KEPT.includes(name)),
  );
}

/** Variables whose values hold references, parsed. Settings (VAULT_*) are never references. */
export function findReferences(env: Readonly<MutableEnv>): Reference[] {
  const refs: Reference[] = [];
  for (const [name, value] of Object.entries(env)) {
    if (SETTINGS.has(name) || !hasReference(value)) continue;
    try {
      const parsed = parseEnvValue(name, value);
      if (parsed.kind !== 'plain') refs.push({ name, parsed });
    } catch (err) {
      if (err instanceof MalformedReferenceError) {
        throw new ConfigError(`${name}: ${err.message}`, { cause: err });
      }
      throw err;
    }
  }
  return refs;
}

export interface AppEnvInput {
  readonly env: Readonly<MutableEnv>;
  readonly config: Config;
  readonly values: ReadonlyMap<string, string>;
  readonly skipped: readonly string[];
  /** The init program's Vault token, handed over on `VAULT_TOKEN=vault:login`. */
  readonly token: string | undefined;
}

/** The environment the app is exec'd (or spawned) with. */
export function appEnvironment(input: AppEnvInput): MutableEnv {
  const { env, config } = input;
  const out = emptyEnv();
  const skipped = new Set(input.skipped);
  for (const [name, value] of Object.entries(env)) {
    if (SETTINGS.has(name) && !config.passthrough.has(name)) continue;
    if (skipped.has(name)) continue;
    out[name] = value;
  }
  for (const [name, value] of input.values) out[name] = value;
  if (config.loginPassthrough && input.token !== undefined) {
    for (const name of LOGIN_KEPT) {
      const original = env[name];
      if (original !== undefined) out[name] = original;
    }
    if (config.addr !== undefined) out[Env.ADDR] = config.addr;
    out[Env.TOKEN] = input.token;
  }
  return finished(out);
}

/**
 * Linux's MAX_ARG_STRLEN (32 pages of 4 KiB on x86-64): the most bytes one `NAME=value` string,
 * with its NUL, may take in execve.
 */
export const MAX_VARIABLE_BYTES = 128 * 1024;

/** The least execve ever copies for a program (the floor of Linux's bprm_stack_limits). */
const MIN_EXEC_BUDGET_BYTES = 128 * 1024;

/**
 * The most bytes execve copies for a program (Linux's bprm_stack_limits): a quarter of the stack
 * size limit, at most 6 MiB, at least 128 KiB. Undefined when the stack limit is not known.
 */
export function execBudgetBytes(stackLimitBytes: number | undefined): number | undefined {
  if (stackLimitBytes === undefined) return undefined;
  return Math.max(
    Math.min(6 * 1024 * 1024, Math.floor(stackLimitBytes / 4)),
    MIN_EXEC_BUDGET_BYTES,
  );
}

/**
 * Throws ConfigError when execve would refuse `file`, `argv` and `env`: a variable holding a NUL
 * byte (EINVAL) or longer than MAX_VARIABLE_BYTES (E2BIG), the first one named; or all their
 * strings, each with its NUL, and one pointer for each argument and variable, beyond the budget
 * (E2BIG), naming the largest variable, the likely culprit. Node aborts the process when
 * `process.execve` fails, and spawn fails the same way, so this is checked before either. Sizes
 * only, never a value. The stack limit is asked for only when the total passes the 128 KiB floor.
 */
export function checkExecArgs(
  file: string,
  argv: readonly string[],
  env: Readonly<MutableEnv>,
  stackLimitBytes: () => number | undefined,
): void {
  const strings = (list: readonly string[]): number =>
    list.reduce((sum, s) => sum + Buffer.byteLength(s, 'utf8') + 1, 0);
  const entries = Object.entries(env);
  let largest = { name: '', bytes: -1 };
  let total = strings([file]) + strings(argv) + (Math.max(argv.length, 1) + entries.length) * 8;
  for (const [name, value] of entries) {
    if (value.includes('\0')) {
      throw new ConfigError(
        `${name}: its value holds a NUL byte, which an environment variable cannot carry`,
      );
    }
    const bytes = Buffer.byteLength(value, 'utf8');
    const nameBytes = Buffer.byteLength(name, 'utf8');
    const room = MAX_VARIABLE_BYTES - nameBytes - 2; // '=' and the NUL
    if (bytes > room) {
      throw new ConfigError(
        `${name}: its value is ${bytes} bytes; Linux passes at most ${room} bytes in one variable of this name (MAX_ARG_STRLEN: 128 KiB for NAME=value)`,
      );
    }
    total += nameBytes + 1 + bytes + 1;
    if (bytes > largest.bytes) largest = { name, bytes };
  }
  if (total <= MIN_EXEC_BUDGET_BYTES) return;
  const budget = execBudgetBytes(stackLimitBytes());
  if (budget !== undefined && total > budget) {
    throw new ConfigError(
      `the app's environment and arguments take ${total} bytes; Linux passes at most ${budget} to a program (a quarter of the stack size limit); the largest variable is ${largest.name} (${largest.bytes} bytes)`,
    );
  }
}
