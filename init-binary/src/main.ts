/**
 * vault-inject-env: the entry point, and the only place that touches argv, the process environment
 * and the exit code. `vault-inject-env CMD [ARGS...]` resolves the references in the environment
 * and execs CMD; `vault-inject-env --copy-bundle DIR` copies the bundle into DIR;
 * `vault-inject-env --help` lists the variables it reads (docs/init-program.md).
 */
import { dirname, resolve as resolvePath } from 'node:path';
import { fileURLToPath } from 'node:url';
import { COPY_FLAG, COPY_TARGET, SIDECAR_FLAG, SIDECAR_READY_FLAG } from './contract/names.ts';
import { lookPath } from './command.ts';
import { copyTree } from './copy.ts';
import { CopyError, exitCodeOf, failureLine } from './errors.ts';
import { canExecve, execApp } from './exec.ts';
import { execHelper, execHelpText } from './exec-helper.ts';
import { helpText, wantsHelp } from './help.ts';
import { createLogger, type Logger } from './log.ts';
import { parseBoolean } from './contract/values.ts';
import type { Lease } from './resolve.ts';
import { run } from './run.ts';
import { runSidecar, sidecarReady } from './sidecar.ts';
import { openSession, renewLease, renewToken, type VaultSession } from './vault/client.ts';
import { warmUp } from './warm.ts';

/** Bundle time only (scripts/bundle.sh): compile what a start compiles, for the shipped cache. */
const WARM_FLAG = '--warm-compile-cache';

/** The Vault session a run, the exec helper and the sidecar open and keep alive. */
const VAULT = {
  openSession,
  renewToken: (s: VaultSession) => renewToken(s.http),
  renewLease: (s: VaultSession, lease: Lease) => renewLease(s.http, lease),
};

async function main(args: readonly string[]): Promise<number> {
  if (args[0] === COPY_FLAG) {
    // The program lives at <bundle>/app/program.cjs.
    const root = resolvePath(dirname(fileURLToPath(import.meta.url)), '..');
    const target = args[1] ?? COPY_TARGET;
    let files: number;
    try {
      files = copyTree(root, target);
    } catch (cause) {
      const code = (cause as NodeJS.ErrnoException).code ?? 'error';
      throw new CopyError(`cannot copy the bundle from ${root} to ${target} (${code})`, { cause });
    }
    processLogger().info(`copied ${files} files from ${root} to ${target}`);
    return 0;
  }
  if (wantsHelp(args, commandExists)) {
    process.getBuiltinModule('node:fs').writeSync(1, helpText());
    return 0;
  }
  if (args[0] === SIDECAR_READY_FLAG) return sidecarReady(process.env);
  if (args[0] === SIDECAR_FLAG) {
    return runSidecar(process.env, VAULT);
  }
  if (args[0] === WARM_FLAG) {
    await warmUp();
    return 0;
  }
  const helper = execHelper(args, commandExists);
  if (helper && 'help' in helper) {
    process.getBuiltinModule('node:fs').writeSync(1, execHelpText());
    return 0;
  }
  return run(
    helper?.argv ?? args,
    process.env,
    { ...VAULT, execve: execApp, canExecve },
    helper ? 'exec' : 'init',
  );
}

/**
 * A logger for the moments outside a run (copy mode, a failure), read leniently from the
 * environment: the settings may be what failed.
 */
function processLogger(): Logger {
  const level = process.env['VAULT_LOG_LEVEL'] ?? '';
  return createLogger({
    level: /^(debug|trace)$/i.test(level) ? 'debug' : 'info',
    json: parseBoolean(process.env['VAULT_JSON_LOG'] ?? '') ?? true,
  });
}

/** Whether `name` is a command found in PATH (an app named `--help` runs; help is not shown). */
function commandExists(name: string): boolean {
  try {
    lookPath(name, process.env['PATH']);
    return true;
  } catch {
    return false;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    // The failure line is text, always: one line a human reads in `kubectl logs`.
    process.stderr.write(`${failureLine(err)}\n`);
    const log = processLogger();
    // Names and codes only: an unknown error's message may quote a response.
    for (let e: unknown = err; e instanceof Error; e = e.cause) {
      log.debug('caused by', { error: e.name, code: String((e as { code?: unknown }).code ?? '') });
    }
    process.exit(exitCodeOf(err));
  },
);
