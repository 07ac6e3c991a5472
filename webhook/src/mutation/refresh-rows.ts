/**
 * The refresh rows of the annotation table (annotations.ts): `refresh-interval`, `reload` and
 * `reload-signal` (contract/refresh.ts, docs/init-program.md#refresh). Any of them makes the init
 * program a daemon; an explicit `daemon: "false"` with one of them, or `reload: restart` with a
 * signal, denies the pod naming both annotations.
 */
import {
  Env,
  RELOAD_MODES,
  RELOAD_SIGNALS,
  parseRefreshInterval,
  parseReloadMode,
  parseReloadSignal,
  parseBoolean,
  type ReloadMode,
  type ReloadSignal,
} from '../../../init-binary/src/contract/index.ts';
import { ErrorCode, WebhookError } from '../errors.ts';
import { VAULT_K8S_PREFIX, row, type Annotation, type Context } from './annotation-row.ts';
import * as V from './values.ts';
import { SECRET_FILE_KEY_PREFIX } from './secret-files.ts';

const VAULT_K8S_SECRET_PREFIX = `${VAULT_K8S_PREFIX}agent-inject-secret-`;

function refreshInterval(value: string): string | undefined {
  const v = value.trim();
  if (v === '') return undefined;
  const ms = parseRefreshInterval(v);
  if (typeof ms !== 'number') throw new V.ValueError(`${V.quote(v)} ${ms.problem}`);
  return v;
}

function reloadMode(value: string): ReloadMode | undefined {
  const v = value.trim();
  if (v === '') return undefined;
  const mode = parseReloadMode(v);
  if (mode === undefined) {
    throw new V.ValueError(`${V.quote(v)} is not one of ${RELOAD_MODES.join(', ')}`);
  }
  return mode;
}

function reloadSignal(value: string): ReloadSignal | undefined {
  const v = value.trim();
  if (v === '') return undefined;
  const signal = parseReloadSignal(v);
  if (signal === undefined) {
    throw new V.ValueError(`${V.quote(v)} is not one of ${RELOAD_SIGNALS.join(', ')}`);
  }
  return signal;
}

export const REFRESH_INTERVAL = row(
  { name: 'refresh-interval' },
  {
    setting: 'refreshInterval',
    parse: refreshInterval,
    env: Env.REFRESH_INTERVAL,
    own: 'check',
    doc: 'daemon mode (implied): re-read the secrets behind the files and the environment this often (a Go duration, at least `1s`); a changed file is rewritten atomically and the app told (`reload`)',
  },
);
export const RELOAD = row(
  { name: 'reload' },
  {
    setting: 'reload',
    parse: reloadMode,
    env: Env.RELOAD,
    own: 'check',
    doc: '`signal`: send `reload-signal` (default SIGHUP) when a file changed; `restart`: stop the app (SIGTERM, then SIGKILL) and start it with the new files and environment; implies daemon mode',
  },
);
export const RELOAD_SIGNAL = row(
  { name: 'reload-signal' },
  {
    setting: 'reloadSignal',
    parse: reloadSignal,
    env: Env.RELOAD_SIGNAL,
    own: 'check',
    doc: `the signal sent to the app when a file changed: ${RELOAD_SIGNALS.join(', ')}; implies daemon mode`,
  },
);

/** vault-k8s' name: `"false"` asks for its agent sidecar beside the init render, as ours does. */
const PRE_POPULATE_ONLY = `${VAULT_K8S_PREFIX}agent-pre-populate-only`;

function agentMode(value: string, ctx: Context): 'sidecar' | undefined {
  const v = value.trim();
  if (v === '') return undefined;
  if (ctx.key === PRE_POPULATE_ONLY) {
    const only = parseBoolean(v);
    if (only === undefined) throw new V.ValueError(`${V.quote(v)} is not true or false`);
    return only ? undefined : 'sidecar';
  }
  if (v.toLowerCase() !== 'sidecar') throw new V.ValueError(`${V.quote(v)} is not sidecar`);
  return 'sidecar';
}

export const AGENT = row(
  { name: 'agent', vaultK8s: 'agent-pre-populate-only' },
  {
    setting: 'agent',
    parse: agentMode,
    docAlias: `\`${PRE_POPULATE_ONLY}: "false"\``,
    doc: '`sidecar`: the secret files are rendered and refreshed (every `refresh-interval`, default 5m) by one native sidecar; apps with only files are not wrapped and start after the first render (see Sidecar)',
  },
);

/** The rows, in the order annotations.ts reads them. */
export const REFRESH_ROWS = [REFRESH_INTERVAL, RELOAD, RELOAD_SIGNAL, AGENT] as const;

interface RefreshSettings {
  readonly agent?: 'sidecar';
  readonly daemon: boolean;
  readonly reload?: ReloadMode;
  readonly reloadSignal?: ReloadSignal;
}

interface RefreshContext {
  readonly annotations: Readonly<Record<string, string>> | undefined;
  /** The `daemon` row (annotations.ts, which imports this file). */
  readonly daemon: Annotation;
  readonly warnings: string[];
}

/** A sidecar tells no app: a reload annotation with it is denied, naming both. */
function checkSidecar(
  found: (a: Annotation) => string | undefined,
  deny: (m: string) => never,
): void {
  const agent = found(AGENT) ?? AGENT.key;
  const told = found(RELOAD) ?? found(RELOAD_SIGNAL);
  if (told === undefined) return;
  deny(
    `annotation ${told}: with ${agent}: sidecar no signal or restart reaches the apps (the sidecar cannot reach another container's process); remove it: apps re-read their files`,
  );
}

/**
 * Denies what the refresh rows cannot mean together; warns about a signal that can never be sent
 * (no secret file, ours or vault-k8s': an env value reaches the app only with `reload: restart`).
 */
export function checkRefresh(s: RefreshSettings, ctx: RefreshContext): void {
  const an = ctx.annotations ?? {};
  const found = (a: Annotation): string | undefined =>
    [a.key, ...a.aliases].find((k) => an[k] !== undefined);
  const deny = (message: string): never => {
    throw new WebhookError(ErrorCode.ANNOTATION, message);
  };
  if (s.reload === 'restart' && s.reloadSignal !== undefined) {
    deny(
      `annotation ${found(RELOAD) ?? RELOAD.key}: restart does not send a signal; remove ${found(RELOAD_SIGNAL) ?? RELOAD_SIGNAL.key}`,
    );
  }
  if (s.agent !== undefined) checkSidecar(found, deny);
  const daemonKey = found(ctx.daemon);
  const refresh = REFRESH_ROWS.map((r) => found(r)).find((k) => k !== undefined);
  if (refresh !== undefined && daemonKey !== undefined && !s.daemon) {
    deny(`annotation ${refresh}: refresh needs daemon mode, but ${daemonKey} is "false"`);
  }
  const signal = found(RELOAD_SIGNAL) ?? (s.reload === 'signal' ? found(RELOAD) : undefined);
  // Our files and vault-k8s template files alike are refreshed.
  const files = Object.keys(an).some(
    (k) => k.startsWith(SECRET_FILE_KEY_PREFIX) || k.startsWith(VAULT_K8S_SECRET_PREFIX),
  );
  if (signal !== undefined && !files) {
    ctx.warnings.push(
      `annotation ${signal} has no effect: the pod has no secret file to signal a change of; environment values reach the app only with ${RELOAD.key}: restart`,
    );
  }
}
