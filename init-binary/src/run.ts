/**
 * One run of the init program, from the environment to the hand-over. `main.ts` supplies the real
 * process; tests supply their own environment, exec and Vault session.
 */
import { parseConfig, type Config, type Environment } from './config.ts';
import { lookPath } from './command.ts';
import { leaseRenewables, supervise, type Renewable } from './daemon.ts';
import {
  appEnvironment,
  checkExecArgs,
  findReferences,
  ignoredSettings,
  restoreHidden,
  type MutableEnv,
} from './env.ts';
import { ConfigError, UnavailableError } from './errors.ts';
import { fileReferences, splitFiles, writeSecretFiles } from './files.ts';
import { agentTemplates, renderAgentFiles } from './agent-files.ts';
import { spawnApp, stackLimitBytes, type RunningApp, type execApp } from './exec.ts';
import { createLogger, uptimeMs, type Logger } from './log.ts';
import { resolve, type Reference, type ResolveResult } from './resolve.ts';
import { realClock, startRefresh, type Rendered } from './refresh.ts';
import { managedApp } from './refresh-app.ts';
import { writeKeysOf } from './refresh-cache.ts';
import { daemonResolver, renderRound, type DaemonResolver } from './daemon-round.ts';
import type { VaultSession } from './vault/client.ts';
import { Env } from './contract/names.ts';

const sleep = (ms: number): Promise<void> => new Promise((done) => setTimeout(done, ms));

export interface RunDependencies {
  readonly openSession: (config: Config, signal: AbortSignal, log: Logger) => Promise<VaultSession>;
  readonly renewToken: (session: VaultSession) => Promise<number>;
  readonly renewLease: (
    session: VaultSession,
    lease: ResolveResult['leases'][number],
  ) => Promise<number>;
  readonly execve: typeof execApp;
  readonly canExecve: () => boolean;
  readonly logWrite?: (line: string) => void;
  readonly now?: () => number;
  /** RLIMIT_STACK in bytes, which bounds what execve copies (exec.ts reads it from /proc). */
  readonly stackLimitBytes?: () => number | undefined;
  /** Waits `ms` (VAULT_ENV_DELAY); a timer by default. */
  readonly sleep?: (ms: number) => Promise<void>;
  /** Whether the secrets directory is on a memory filesystem (files.ts asks statfs by default). */
  readonly isMemory?: (dir: string) => boolean;
}

/**
 * `init`: the container's first process (renders the secret files, daemon mode if asked);
 * `exec`: `vault-inject-env exec -- CMD` in a running container (the environment only, then exec).
 */
export type RunMode = 'init' | 'exec';

/** Runs the program for `command` (argv after our own name); resolves to the exit code. */
export async function run(
  command: readonly string[],
  processEnv: Environment,
  deps: RunDependencies,
  mode: RunMode = 'init',
): Promise<number> {
  const now = deps.now ?? ((): number => process.uptime() * 1000);
  const started = now();
  const env = restoreHidden(processEnv);
  const config = parseConfig(env);
  const log = createLogger({ level: config.logLevel, json: config.jsonLog, write: deps.logWrite });
  log.debug('started', { atMs: uptimeMs() });
  const argv = command[0] === '--' ? command.slice(1) : command;
  const [name] = argv;
  if (name === undefined)
    throw new ConfigError('no command to run: usage vault-inject-env CMD [ARGS...]');
  // Before any Vault call: a command that cannot run must not cost credentials.
  const file = lookPath(name, env['PATH']);
  const references = findReferences(env);
  warnIgnored(env, config, log);
  const { secretFiles, daemon } = modeOf(config, mode);
  const files = fileReferences(secretFiles, references);
  const agentFiles = agentTemplates(secretFiles);

  let session: VaultSession | undefined;
  let cache: DaemonResolver | undefined;
  let resolved: ResolveResult = { values: new Map(), skipped: [], leases: [] };
  let agentContents = new Map<string, string>();
  const input = {
    variables: [...references, ...files],
    fromPaths: config.fromPaths,
    explicitNames: new Set(Object.keys(env)),
    ignoreMissing: config.ignoreMissing,
    transitConfigured: config.transitKeyId !== undefined,
  };
  const needed = references.length + files.length + agentFiles.length + config.fromPaths.length > 0;
  if (needed || config.loginPassthrough) {
    const deadline = AbortSignal.timeout(config.clientTimeoutMs);
    const work = (async () => {
      session = await deps.openSession(config, deadline, log);
      // A daemon resolves through the cache that tells a refresh what to read again.
      cache = daemon ? daemonResolver(session, reissued(config, input), now) : undefined;
      // vault-k8s templates render beside the env's reads, sharing them (again each refresh).
      const agent = renderAgentFiles(agentFiles, session, {
        ignoreMissing: config.ignoreMissing,
        log,
        answers: cache?.answers,
      });
      agent.catch(() => undefined);
      const envResult = await resolve(input, cache?.cache.api ?? session.api, log);
      agentContents = await agent;
      return envResult;
    })();
    resolved = await withinDeadline(work, deadline, config);
  }
  const rendered = splitFiles(resolved, files);
  resolved = rendered.env;
  const contents = new Map([...rendered.contents, ...agentContents]);
  writeSecretFiles(secretFiles, contents, { log, isMemory: deps.isMemory });
  const envInput = { env, config, token: session?.login.token };
  const appEnv = appEnvironment({
    ...envInput,
    values: resolved.values,
    skipped: resolved.skipped,
  });
  log.debug('handing over to the app', {
    variables: resolved.values.size,
    skipped: resolved.skipped.length,
    ms: Math.round(now() - started),
    atMs: uptimeMs(),
    rssKb: config.logLevel === 'debug' ? rssKb() : undefined,
  });
  checkExecArgs(file, argv, appEnv, deps.stackLimitBytes ?? stackLimitBytes);
  if (mode !== 'exec') await delay(config, log, deps.sleep);
  if (!daemon && deps.canExecve()) deps.execve(file, argv, appEnv);

  const app = spawnApp(file, argv, appEnv, log);
  if (session === undefined || cache === undefined) return app.exited;
  const [live, kept] = [session, cache];
  const start = (values: ResolveResult): RunningApp => {
    const next = appEnvironment({ ...envInput, values: values.values, skipped: values.skipped });
    checkExecArgs(file, argv, next, deps.stackLimitBytes ?? stackLimitBytes);
    return spawnApp(file, argv, next, log);
  };
  const render = async (): Promise<Rendered> => {
    const deadline = AbortSignal.timeout(config.clientTimeoutMs);
    live.http.setDeadline(deadline, config.clientTimeoutMs);
    const round = { input, files, agentFiles, ignoreMissing: config.ignoreMissing, log };
    return withinDeadline(renderRound(kept, round), deadline, config);
  };
  const initial = { env: resolved, contents };
  return stayDaemon(
    { app, start, render, initial, session: live, cache: kept },
    { config, deps, log, now },
  );
}

interface DaemonParts {
  readonly app: RunningApp;
  readonly start: (values: ResolveResult) => RunningApp;
  readonly render: () => Promise<Rendered>;
  readonly initial: Rendered;
  readonly session: VaultSession;
  readonly cache: DaemonResolver;
}

/** Daemon mode: the app supervised (daemon.ts), its files and environment refreshed. */
function stayDaemon(
  p: DaemonParts,
  ctx: { config: Config; deps: RunDependencies; log: Logger; now: () => number },
): Promise<number> {
  const { config, deps, log } = ctx;
  const secretFiles = config.secretFiles;
  const app = managedApp({ first: p.app, log, start: p.start });
  const refresh = startRefresh({
    intervalMs: config.refresh.intervalMs,
    reload: config.refresh.reload,
    initial: p.initial,
    render: p.render,
    writeFile: (name, content) =>
      writeSecretFiles(secretFiles, new Map([[name, content]]), { log, isMemory: deps.isMemory }),
    app,
    nextDue: () => p.cache.nextDue(),
    log,
    clock: { ...realClock, now: ctx.now },
  });
  // A lease the cache replaces before it ends needs no renewal, nor stops the app.
  const replaced = p.cache.cache.reissuedLeaseIds();
  const leases = p.initial.env.leases.filter((l) => !replaced.has(l.id));
  const renew = renewables(p.session, { ...p.initial.env, leases }, config, deps);
  return supervise({ app, log, renewables: renew }).finally(() => refresh.stop());
}

/** The writes a daemon does again before they expire: those whose value reaches the app. */
function reissued(config: Config, input: { variables: readonly Reference[] }): Set<string> {
  const reachApp = input.variables.filter(
    (v) => config.refresh.reload.kind === 'restart' || 'file' in v,
  );
  return writeKeysOf(reachApp);
}

/** Names (never values) the Bank-Vaults settings present that this program does not act on. */
function warnIgnored(env: Readonly<MutableEnv>, config: Config, log: Logger): void {
  const ignored = ignoredSettings(env, config);
  if (ignored.length === 0) return;
  log.warn(
    `Bank-Vaults settings this program does not act on, removed from the app's environment: ${ignored.join(', ')}`,
  );
}

/** The exec helper renders no file and never stays as a daemon. */
function modeOf(config: Config, mode: RunMode): Pick<Config, 'secretFiles' | 'daemon'> {
  if (mode === 'exec') return { secretFiles: undefined, daemon: false };
  return config;
}

export function renewables(
  session: VaultSession,
  resolved: ResolveResult,
  config: Config,
  deps: RunDependencies,
): Renewable[] {
  const fresh = (): void =>
    session.http.setDeadline(AbortSignal.timeout(config.clientTimeoutMs), config.clientTimeoutMs);
  const out: Renewable[] = leaseRenewables(resolved.leases, (lease) => {
    fresh();
    return deps.renewLease(session, lease);
  });
  const { renewable, ttlSeconds } = session.login;
  if (renewable && ttlSeconds > 0) {
    out.push({
      label: 'token',
      ttlSeconds,
      renew: () => {
        fresh();
        return deps.renewToken(session);
      },
    });
  } else if (ttlSeconds > 0 && resolved.leases.length > 0) {
    // Vault revokes a token's leases when it expires: that expiry is their max TTL.
    out.push({ label: 'token', ttlSeconds });
  }
  return out;
}

/** Bank-Vaults' VAULT_ENV_DELAY: the secrets are resolved, the app starts this much later. */
async function delay(config: Config, log: Logger, wait = sleep): Promise<void> {
  if (config.envDelayMs <= 0) return;
  log.info('waiting before starting the app', { ms: config.envDelayMs, setting: Env.ENV_DELAY });
  await wait(config.envDelayMs);
}

/** The whole Vault phase is bounded by VAULT_CLIENT_TIMEOUT, whatever it is waiting on. */
export async function withinDeadline<T>(
  work: Promise<T>,
  deadline: AbortSignal,
  config: Config,
): Promise<T> {
  let onAbort: (() => void) | undefined;
  const expired = new Promise<never>((_, reject) => {
    // A moment's grace, so that the failing call's own error (naming its cause) comes first.
    onAbort = () =>
      setTimeout(
        () =>
          reject(
            new UnavailableError(
              `Vault at ${config.addr ?? '(unset)'} did not answer within ${config.clientTimeoutMs / 1000}s`,
            ),
          ),
        20,
      );
    deadline.addEventListener('abort', onAbort, { once: true });
  });
  // Keeps the process alive while waiting (AbortSignal.timeout's timer does not).
  const keepAlive = setInterval(() => undefined, 1 << 30);
  try {
    return await Promise.race([work, expired]);
  } finally {
    clearInterval(keepAlive);
    if (onAbort) deadline.removeEventListener('abort', onAbort);
    work.catch(() => undefined);
  }
}

/** Resident memory in KiB; undefined where /proc is not mounted (scratch roots, some sandboxes). */
function rssKb(): number | undefined {
  try {
    return Math.round(process.memoryUsage.rss() / 1024);
  } catch {
    return undefined;
  }
}
