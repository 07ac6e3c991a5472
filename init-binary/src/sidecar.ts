/**
 * Sidecar mode (docs/init-program.md#sidecar-mode): `vault-inject-env --sidecar` runs as a native
 * sidecar (an init container with `restartPolicy: Always`). It logs in, renders the pod's secret
 * files into each receiving container's own volume (SIDECAR_DIRS_ENV), writes the ready marker
 * its startup probe checks (`--sidecar-ready`), then refreshes the files on the refresh interval
 * (5m by default) and renews its token and leases until SIGTERM, when it exits 0. It never runs
 * an app, so it tells none: apps re-read their files.
 */
import { parseConfig, type Environment } from './config.ts';
import { SIDECAR_DIRS_ENV, SIDECAR_READY_ENV, SIDECAR_READY_FILE } from './contract/names.ts';
import type { SecretFilesSpec } from './contract/secret-files.ts';
import { supervise } from './daemon.ts';
import { daemonResolver, renderRound } from './daemon-round.ts';
import { ConfigError } from './errors.ts';
import { agentTemplates } from './agent-files.ts';
import { fileReferences, writeSecretFiles } from './files.ts';
import { createLogger, type Logger } from './log.ts';
import { realClock, startRefresh, type Rendered } from './refresh.ts';
import { writeKeysOf } from './refresh-cache.ts';
import { renewables, withinDeadline, type RunDependencies } from './run.ts';
import type { RunningApp } from './exec.ts';

const fs = process.getBuiltinModule('node:fs');

/** The refresh interval when `refresh-interval` is not set: 5m. */
const SIDECAR_DEFAULT_INTERVAL_MS = 300_000;

export type SidecarDependencies = Pick<
  RunDependencies,
  'openSession' | 'renewToken' | 'renewLease' | 'logWrite' | 'isMemory' | 'now'
> & {
  /** Resolves when the sidecar is to stop (SIGTERM by default). */
  readonly stop?: Promise<void>;
};

/** The directories to write into; throws ConfigError when there is none. */
function sidecarDirs(env: Environment): string[] {
  const dirs = (env[SIDECAR_DIRS_ENV] ?? '').split(':').filter((d) => d.startsWith('/'));
  if (dirs.length === 0) {
    throw new ConfigError(`${SIDECAR_DIRS_ENV}: no directory to write the secret files into`);
  }
  return dirs;
}

function writeAll(
  spec: SecretFilesSpec,
  dirs: readonly string[],
  contents: ReadonlyMap<string, string>,
  o: { log: Logger; isMemory?: ((dir: string) => boolean) | undefined },
): void {
  for (const dir of dirs) writeSecretFiles({ ...spec, dir }, contents, o);
}

/** Runs the sidecar; resolves to its exit code (0 after SIGTERM). */
export async function runSidecar(env: Environment, deps: SidecarDependencies): Promise<number> {
  const now = deps.now ?? ((): number => performance.now());
  const config = parseConfig(env);
  const log = createLogger({ level: config.logLevel, json: config.jsonLog, write: deps.logWrite });
  const spec = config.secretFiles;
  if (spec === undefined) throw new ConfigError('sidecar: no secret file to render');
  const dirs = sidecarDirs(env);
  const files = fileReferences(spec, []);
  const agentFiles = agentTemplates(spec);
  const input = {
    variables: files,
    fromPaths: [],
    explicitNames: new Set<string>(),
    ignoreMissing: config.ignoreMissing,
    transitConfigured: config.transitKeyId !== undefined,
  };
  const first = AbortSignal.timeout(config.clientTimeoutMs);
  const session = await withinDeadline(deps.openSession(config, first, log), first, config);
  const cache = daemonResolver(session, writeKeysOf(files), now);
  const render = async (): Promise<Rendered> => {
    const deadline = AbortSignal.timeout(config.clientTimeoutMs);
    session.http.setDeadline(deadline, config.clientTimeoutMs);
    const round = { input, files, agentFiles, ignoreMissing: config.ignoreMissing, log };
    return withinDeadline(renderRound(cache, round), deadline, config);
  };
  const initial = await render();
  const io = { log, isMemory: deps.isMemory };
  writeAll(spec, dirs, initial.contents, io);
  fs.writeFileSync(readyFile(env), '', { mode: 0o400 });
  log.info('secret files rendered', { files: initial.contents.size, containers: dirs.length });
  const refresh = startRefresh({
    intervalMs: config.refresh.intervalMs ?? SIDECAR_DEFAULT_INTERVAL_MS,
    reload: { kind: 'none' },
    initial,
    render,
    writeFile: (name, content) => writeAll(spec, dirs, new Map([[name, content]]), io),
    app: { signal: () => undefined, restart: () => undefined },
    nextDue: () => cache.nextDue(),
    log,
    clock: { ...realClock, now },
  });
  const replaced = cache.cache.reissuedLeaseIds();
  const leases = initial.env.leases.filter((l) => !replaced.has(l.id));
  const renew = renewables(session, { ...initial.env, leases }, config, deps as RunDependencies);
  const code = await supervise({ app: stopper(deps.stop), log, renewables: renew });
  refresh.stop();
  return code;
}

/**
 * What daemon.ts supervises in place of an app: it "exits" 0 on SIGTERM, and 1 when a credential
 * can no longer be renewed (the kubelet then restarts the sidecar, which logs in again).
 */
function stopper(stop: Promise<void> | undefined): RunningApp {
  let done: (code: number) => void = () => undefined;
  const exited = new Promise<number>((resolve) => (done = resolve));
  const stopped = stop ?? new Promise<void>((resolve) => process.once('SIGTERM', resolve));
  void stopped.then(() => done(0));
  const kill = (): boolean => {
    done(1);
    return true;
  };
  return { child: { kill } as unknown as RunningApp['child'], exited };
}

const readyFile = (env: Environment): string => env[SIDECAR_READY_ENV] || SIDECAR_READY_FILE;

/** `--sidecar-ready`: 0 once the first render is written, else 1 (the startup probe). */
export function sidecarReady(env: Environment): number {
  return fs.existsSync(readyFile(env)) ? 0 : 1;
}
