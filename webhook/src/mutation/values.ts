/**
 * How annotation values are read: each parser takes the value as written and returns the setting,
 * or throws a `ValueError` whose message states the problem (the caller names the annotation or
 * the container's variable). The rules are the init program's, so the webhook admits exactly what
 * the init program will accept at start.
 */
import {
  parseBoolean,
  parseDurationMs,
  parseFromPath,
  parseList,
  pathProblem,
  trimSlashes,
} from '../../../init-binary/src/contract/index.ts';
import { ErrorCode, type ErrorCodeValue } from '../errors.ts';

/** A value that cannot be used; `message` is the problem, without the name of its carrier. */
export class ValueError extends Error {
  /** Set when the value is refused by a policy rather than unreadable (e.g. E_ADDR_NOT_ALLOWED). */
  readonly code: ErrorCodeValue;
  constructor(message: string, code: ErrorCodeValue = ErrorCode.ANNOTATION) {
    super(message);
    this.name = 'ValueError';
    this.code = code;
  }
}

/** At most this many characters of a value are quoted back in a message. */
const ECHO_LIMIT = 120;

/**
 * `value` quoted for a message, cut to `ECHO_LIMIT` characters with an ellipsis and the count of
 * what was left out, control characters escaped (a newline never splits a log line or a denial).
 */
export function quote(value: string): string {
  const cut = value.length > ECHO_LIMIT;
  const shown = JSON.stringify(cut ? value.slice(0, ECHO_LIMIT) : value);
  return cut ? `${shown.slice(0, -1)}…" (${value.length - ECHO_LIMIT} more characters)` : shown;
}

/**
 * A boolean as Bank-Vaults reads its annotations (Go's `strconv.ParseBool`: `1`, `t`, `T`,
 * `true`, `TRUE`, `True` and their false forms), around surrounding spaces; empty is unset.
 */
export function bool(value: string): boolean | undefined {
  const v = value.trim();
  if (v === '') return undefined;
  const b = parseBoolean(v);
  if (b === undefined) throw new ValueError(`${quote(value)} is not true or false`);
  return b;
}

/** Trimmed text; empty is unset. */
export function text(value: string): string | undefined {
  const v = value.trim();
  return v === '' ? undefined : v;
}

/** A comma list, items trimmed, empty items dropped; no item is unset. */
export function list(value: string): string[] | undefined {
  const items = parseList(value);
  return items.length > 0 ? items : undefined;
}

/**
 * A duration as the init program reads `VAULT_CLIENT_TIMEOUT` (a Go duration such as `1m30s`,
 * `1.5s`, `500ms`, or a number of seconds; positive), kept as written.
 */
export function duration(value: string): string {
  const v = value.trim();
  const ms = parseDurationMs(v);
  if (ms === undefined || ms <= 0) {
    throw new ValueError(`${quote(v)} is not a positive duration such as 10s, 500ms or 1m`);
  }
  return v;
}

/**
 * One of `allowed`, trimmed; compared exactly, or without case when `anyCase`; returned as
 * `allowed` spells it.
 */
export function oneOf<T extends string>(
  allowed: readonly T[],
  anyCase = false,
): (value: string) => T {
  const fold = (s: string): string => (anyCase ? s.toLowerCase() : s);
  return (value) => {
    const v = fold(value.trim());
    const found = allowed.find((a) => fold(a) === v);
    if (found === undefined) {
      throw new ValueError(`${quote(value.trim())} is not one of ${allowed.join(', ')}`);
    }
    return found;
  };
}

const DNS_NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

/** The name of a Kubernetes object (a DNS subdomain); empty is unset. */
export function objectName(value: string): string | undefined {
  const v = value.trim();
  if (v === '') return undefined;
  if (!DNS_NAME.test(v)) throw new ValueError(`${quote(v)} is not a valid Secret name`);
  return v;
}
/**
 * A Vault path (a mount, a namespace, a secret path, a transit key) under the rules of a
 * reference's path, the contract's `pathProblem` (docs/references.md): slashes at either end
 * dropped; no space, control character, quote, backslash, `$`, `{`, `}`, `?` or `%`; no empty,
 * `.` or `..` segment. Empty is unset; the value is kept as written (trimmed).
 */
export function vaultPath(value: string): string | undefined {
  const v = value.trim();
  if (v === '') return undefined;
  const problem = pathProblem(trimSlashes(v));
  return problem === undefined ? v : fail(v, problem);
}

function fail(value: string, problem: string): never {
  throw new ValueError(`${quote(value)} ${problem}`);
}

/**
 * A comma list of Vault paths, each under `vaultPath`'s rules and optionally pinned to a KV v2
 * version (`secret/data/app#3`, as Bank-Vaults' `vault-env-from-path` takes it, and as the init
 * program reads it); kept as written (trimmed).
 */
/**
 * An auth mount path. The Vault Agent Injector's `vault.hashicorp.com/auth-path` (the carrier
 * `key`) is the whole path, `auth/kubernetes`; ours is the mount, `kubernetes`.
 */
export function authPath(value: string, ctx: { readonly key: string }): string | undefined {
  const vaultK8s = ctx.key.startsWith('vault.hashicorp.com/');
  return vaultPath(vaultK8s ? value.trim().replace(/^\/*auth\//, '') : value);
}

export function vaultPaths(value: string): string | undefined {
  const items = list(value);
  if (items === undefined) return undefined;
  for (const item of items) {
    const parsed = parseFromPath(item);
    if (!('problem' in parsed)) continue;
    const { problem } = parsed;
    fail(
      item,
      problem.startsWith('the path ')
        ? problem.slice('the path '.length)
        : `has ${problem.replace(/^the (version .*) is /, 'the $1, which is ')}`,
    );
  }
  return value.trim();
}
