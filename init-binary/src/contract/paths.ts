/**
 * The rules a Vault path must meet wherever it comes from: a reference's path, the auth mount, the
 * transit mount, a from-path, the namespace. A path that breaks them would change the request
 * rather than name something (`..` climbs to another API, `?` starts a query, `%` an escape, a
 * newline ends a header), so the webhook denies it and the init program exits 78.
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
  if (/[?%]/.test(path)) return 'holds "?" or "%" (a query or an escape, not a name)';
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
  if (problem === undefined) return undefined;
  const shown = value.length > 100 ? `${value.slice(0, 100)}…` : value;
  return `${name} ${JSON.stringify(shown)}: the path ${problem}`;
}
