// What the benches read about a running process and about the machine: CPU and memory from /proc,
// the load average, a free loopback port, and Bank-Vaults' binaries (scripts/components/bank-vaults.sh).
import { spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { loadavg } from 'node:os';
import { parseProcStat, parseProcStatus, type ProcStat, type ProcStatus } from './stats.ts';

/** Clock ticks per second of /proc/PID/stat's CPU times (getconf CLK_TCK; 100 on Linux). */
export const TICKS_PER_SECOND = (() => {
  const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
  const n = Number(r.stdout.trim());
  return r.status === 0 && n > 0 ? n : 100;
})();

export const procStat = (pid: number): ProcStat =>
  parseProcStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));

export const procStatus = (pid: number): ProcStatus =>
  parseProcStatus(readFileSync(`/proc/${pid}/status`, 'utf8'));

export const load = (): string =>
  loadavg()
    .map((n) => n.toFixed(2))
    .join(' ');

/** A TCP port free on 127.0.0.1 now (the kernel's pick, released at once). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/**
 * A Bank-Vaults program's path, or why it is not available: VAULT_INJECT_BV_VAULT_ENV /
 * VAULT_INJECT_BV_WEBHOOK when set, else the component cache (scripts/components.sh --bench).
 */
export function bankVaults(program: 'vault-env' | 'webhook'): { path?: string; why: string } {
  const variable =
    program === 'vault-env' ? 'VAULT_INJECT_BV_VAULT_ENV' : 'VAULT_INJECT_BV_WEBHOOK';
  const fromEnv = process.env[variable];
  if (fromEnv) {
    return existsSync(fromEnv)
      ? { path: fromEnv, why: '' }
      : { why: `${variable}=${fromEnv} does not exist` };
  }
  const r = spawnSync('scripts/components/bank-vaults.sh', ['path', program], { encoding: 'utf8' });
  const path = r.stdout.trim();
  if (r.status === 0 && path !== '') return { path, why: '' };
  const why = r.stderr.trim().split('\n').at(-1) ?? 'bank-vaults.sh failed';
  return { why: why.replace(/^bank-vaults: (peer not available: )?/, '') };
}

/** For `make bench` (scripts/bench/run.ts): one JSON line per number, ours beside the peer's. */
export function report(
  bench: string,
  metric: string,
  values: { ours: number; peer?: number | undefined },
  unit: string,
): void {
  const file = process.env['VAULT_INJECT_BENCH_RESULTS'];
  if (!file) return;
  const line = { bench, metric, ours: values.ours, peer: values.peer, unit };
  appendFileSync(file, `${JSON.stringify(line)}\n`);
}
