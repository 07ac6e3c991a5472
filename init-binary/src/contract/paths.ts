/**
 * The rules a Vault path must meet wherever it comes from: a reference's path, the auth mount, the
 * transit mount, a from-path, the namespace. A path that breaks them would change the request
 * rather than name something (`..` climbs to another API, `?` starts a query, `#` a fragment, `%`
 * an escape, a newline ends a header), so the webhook denies it and the init program exits 78.
 */

/** `path` without its leading and trailing slashes, as Vault reads it. */
export function trimSlashes(path: string): string {
  return path.replace(/^\/+/, '').replace(/\/+$/, '');
}

// eslint-disable-next-line no-control-regex -- control characters are what is looked for
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/**
 * What is wrong with `path` (leading and trailing slashes already dropped), as the end of a
 * sentence naming it (`the path "x" holds ...`); undefined when it is a usable path.
 */
export function pathProblem(path: string): string | undefined {
  if (path === '') return 'is empty';
  if (/[\s{}$"\\]/.test(path)) return 'holds a space, quote, backslash, "$", "{" or "}"';
  if (CONTROL.test(path)) return 'holds a control character';
  if (/[?#%]/.test(path))
    return 'holds "?", "#" or "%" (a query, a fragment or an escape, not a name)';
  if (path.split('/').some((seg) => seg === '' || seg === '.' || seg === '..')) {
    return 'has an empty, "." or ".." segment';
  }
  return undefined;
}

/**
 * The problem of a setting that names a path (an annotation, a variable), as one line naming it:
 * `VAULT_PATH "../sys": has an empty, "." or ".." segment`. The value is quoted as JSON (a
 * newline shows as `\n`) and cut at 100 characters. Undefined when the value is usable.
 */
export function pathSettingProblem(name: string, value: string): string | undefined {
  const problem = pathProblem(trimSlashes(value));
  return problem === undefined ? undefined : settingLine(name, value, `the path ${problem}`);
}

/** `NAME "value": problem`, the value quoted as JSON and cut at 100 characters. */
export function settingLine(name: string, value: string, problem: string): string {
  const shown = value.length > 100 ? `${value.slice(0, 100)}…` : value;
  return `${name} ${JSON.stringify(shown)}: ${problem}`;
}

/**
 * What is wrong with a KV v2 version written after a path's `#` (`vault:PATH#KEY#3`,
 * `secret/data/app#3` in a from-path), as the end of a sentence; undefined for a positive whole
 * number (at most 10 digits).
 */
export function versionProblem(raw: string): string | undefined {
  return /^[1-9]\d{0,9}$/.test(raw) ? undefined : 'is not a positive whole number';
}

/** One item of a from-path list: a path, and the KV v2 version after its `#`, if any. */
export interface FromPath {
  readonly path: string;
  readonly version?: number;
}

/**
 * One item of `VAULT_ENV_FROM_PATH` (Bank-Vaults' `vault-env-from-path`): `PATH` or `PATH#VERSION`,
 * the path under the rules above (slashes at either end dropped), the version as in a reference.
 * When the item is not usable: its problem, as the end of a sentence naming the item.
 */
export function parseFromPath(item: string): FromPath | { readonly problem: string } {
  const hash = item.indexOf('#');
  const path = trimSlashes(hash < 0 ? item : item.slice(0, hash));
  const problem = pathProblem(path);
  if (problem !== undefined) return { problem: `the path ${problem}` };
  if (hash < 0) return { path };
  const raw = item.slice(hash + 1);
  const bad = versionProblem(raw);
  if (bad === undefined) return { path, version: Number(raw) };
  const shown = raw.length > 20 ? `${raw.slice(0, 20)}…` : raw;
  return { problem: `the version ${JSON.stringify(shown)} after "#" ${bad}` };
}
