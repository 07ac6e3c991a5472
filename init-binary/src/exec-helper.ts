/**
 * `vault-inject-env exec -- CMD [ARGS...]`: run inside an injected container (`kubectl exec POD
 * -- /vault-inject/bin/vault-inject-env exec -- CMD`), it logs in again with the pod's identity and
 * execs CMD with the environment the app got. `kubectl exec` starts from the container's spec
 * environment, which still holds the references and the init program's settings. It renders no
 * file (the app's files are already there) and never stays as a daemon.
 */

/** The subcommand's name: only when no command of that name is in PATH (as with `--help`). */
export const EXEC_SUBCOMMAND = 'exec';

export type ExecHelper = { readonly help: true } | { readonly argv: readonly string[] };

/** What `args` ask of the exec helper, or undefined when they are an app's command line. */
export function execHelper(
  args: readonly string[],
  commandExists: (name: string) => boolean,
): ExecHelper | undefined {
  if (args[0] !== EXEC_SUBCOMMAND || commandExists(EXEC_SUBCOMMAND)) return undefined;
  if (args.length === 2 && (args[1] === '--help' || args[1] === '-h')) return { help: true };
  return { argv: args.slice(1) };
}

export function execHelpText(): string {
  return [
    'Usage: vault-inject-env exec [--] CMD [ARGS...]',
    '',
    'Inside an injected container (kubectl exec POD -c CONTAINER -- \\',
    '  /vault-inject/bin/vault-inject-env exec -- CMD): logs in to Vault again with the',
    "pod's identity, resolves the references of the container's environment as at its start",
    'and execs CMD with the environment the app got: references replaced, settings removed.',
    'Secret files are not rewritten (they are already in the secrets directory); daemon mode',
    'does not apply. Exit codes as for the app: 78, 77, 69, 127, 126, 70 (see --help).',
    '',
  ].join('\n');
}
