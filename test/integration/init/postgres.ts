/**
 * A throwaway PostgreSQL server on 127.0.0.1 for OpenBao's `database` secrets engine, the real
 * source of renewable leases (`database/creds/ROLE`). Uses the host's PostgreSQL (`initdb` and
 * `postgres` in PATH or under /usr/lib/postgresql/VERSION/bin); PostgreSQL refuses to run as root,
 * so a root caller runs it as UID 65534 through `setpriv`. `trust` authentication on loopback
 * only; its own directory, removed on `stop()`.
 */
import { spawnSync } from 'node:child_process';
import { chownSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { componentPath } from '../../env/kube.ts';
import { freePort, startProcess, waitUntil } from '../../env/processes.ts';

export interface Postgres {
  readonly port: number;
  /** The connection URL template OpenBao's postgresql plugin takes. */
  readonly connectionUrl: string;
  stop(): Promise<void>;
}

/** The directory holding `initdb` and `postgres` (scripts/components/postgresql.sh). */
export async function postgresBin(): Promise<string> {
  return dirname(await componentPath('postgresql', 'VAULT_INJECT_POSTGRES'));
}

export async function startPostgres(bin: string): Promise<Postgres> {
  const dir = mkdtempSync(join(tmpdir(), 'vault-inject-pg-'));
  const asUser =
    process.getuid?.() === 0 ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'] : [];
  if (asUser.length > 0) chownSync(dir, 65534, 65534);
  const data = join(dir, 'data');
  const init = spawnSync(
    asUser[0] ?? join(bin, 'initdb'),
    [
      ...asUser.slice(1),
      ...(asUser.length > 0 ? [join(bin, 'initdb')] : []),
      '-D',
      data,
      '-U',
      'postgres',
      '--auth=trust',
      '--locale=C',
      '-E',
      'UTF8',
      '--no-sync',
    ],
    { encoding: 'utf8', env: { PATH: '/usr/bin:/bin', HOME: dir } },
  );
  if (init.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`initdb failed: ${init.stderr}`);
  }
  const port = await freePort();
  const logPath = join(dir, 'postgres.log');
  const args = [
    join(bin, 'postgres'),
    '-D',
    data,
    '-h',
    '127.0.0.1',
    '-p',
    String(port),
    '-k',
    dir,
    '-c',
    'fsync=off',
  ];
  const proc = startProcess({
    name: 'postgres',
    command: asUser[0] ?? args[0] ?? 'postgres',
    args: asUser.length > 0 ? [...asUser.slice(1), ...args] : args.slice(1),
    logPath,
    env: { PATH: '/usr/bin:/bin', HOME: dir },
  });
  const stop = async (): Promise<void> => {
    await proc.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitUntil(
      'postgres',
      async () => readFileSync(logPath, 'utf8').includes('ready to accept connections'),
      { process: proc, timeoutMs: 30_000 },
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    port,
    connectionUrl: `postgresql://{{username}}:{{password}}@127.0.0.1:${port}/postgres?sslmode=disable`,
    stop,
  };
}
