/**
 * `mutate-probes`, as Bank-Vaults does it: the exec probes (liveness, readiness, startup) of an
 * injected container run through the init program, so the probe's command sees the secrets. Each
 * probe run then logs in to Vault and reads the secrets like the container's start did.
 */
import { INIT_PROGRAM } from '../../../init-binary/src/contract/index.ts';
import type { Container } from './types.ts';

const PROBES = ['livenessProbe', 'readinessProbe', 'startupProbe'] as const;

interface ExecProbe {
  exec?: { command?: unknown };
}

/** Prefixes the init program to each exec probe of `c` that does not run it already. */
export function wrapProbes(c: Container): void {
  for (const name of PROBES) {
    const exec = (c[name] as ExecProbe | undefined)?.exec;
    const command = exec?.command;
    if (!exec || !Array.isArray(command) || command.length === 0) continue;
    if (command[0] === INIT_PROGRAM) continue;
    exec.command = [INIT_PROGRAM, ...(command as unknown[])];
  }
}
