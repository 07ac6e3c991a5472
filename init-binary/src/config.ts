/**
 * The init program's settings, read once from the environment (docs/init-program.md) into a frozen,
 * typed object. Nothing else in the program reads `process.env`.
 */
import {
  AUTH_METHODS,
  DEFAULT_SA_TOKEN_PATH,
  Defaults,
  Env,
  type AuthMethod,
  type EnvName,
} from './contract/names.ts';
import {
  parseFromPath,
  pathSettingProblem,
  settingLine,
  trimSlashes,
  type FromPath,
} from './contract/paths.ts';
import { parseBoolean, parseDurationMs, parseList } from './contract/values.ts';
import { ConfigError } from './errors.ts';
import { LOGIN_VALUE } from './contract/references.ts';
import { proxyConfigFromEnv, type ProxyConfig } from './contract/proxy.ts';
import { decodeSecretFiles, type SecretFilesSpec } from './contract/secret-files.ts';
import {
  RELOAD_MODES,
  RELOAD_SIGNALS,
  parseRefreshInterval,
  parseReloadMode,
  parseReloadSignal,
  reloadOf,
  type Reload,
} from './contract/refresh.ts';

export type Environment = Readonly<Record<string, string | undefined>>;

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];

export interface Config {
  /** Vault's address without a trailing slash; undefined when not set. */
  readonly addr: string | undefined;
  readonly authMethod: AuthMethod;
  readonly authPath: string;
  readonly role: string | undefined;
  readonly namespace: string | undefined;
  readonly skipVerify: boolean;
  readonly caCertFile: string | undefined;
  /** Total budget for login, reads and retries. */
  readonly clientTimeoutMs: number;
  readonly ignoreMissing: boolean;
  /** `VAULT_*` names the app keeps. */
  readonly passthrough: ReadonlySet<string>;
  readonly daemon: boolean;
  /** `VAULT_ENV_FROM_PATH`: each path, and the KV v2 version pinned after its `#`. */
  readonly fromPaths: readonly FromPath[];
  readonly transitKeyId: string | undefined;
  readonly transitPath: string;
  readonly logLevel: LogLevel;
  readonly jsonLog: boolean;
  /** The token for `token` auth, when given inline (never `vault:login`). */
  readonly token: string | undefined;
  readonly tokenFile: string | undefined;
  readonly roleId: string | undefined;
  readonly secretId: string | undefined;
  /** The service account (or other JWT) token file for `kubernetes` and `jwt` auth. */
  readonly saTokenFile: string;
  /** The app asked for the init program's token (`VAULT_TOKEN=vault:login`). */
  readonly loginPassthrough: boolean;
  /**
   * HTTPS_PROXY, HTTP_PROXY, NO_PROXY (lowercase wins); undefined when no proxy is set. They stay
   * in the app's environment too.
   */
  readonly proxy: ProxyConfig | undefined;
  /** How long to wait after resolving, before handing over to the app (VAULT_ENV_DELAY); 0: none. */
  readonly envDelayMs: number;
  /** At most this many ciphertexts per transit decrypt call (VAULT_TRANSIT_BATCH_SIZE); 0: all in one. */
  readonly transitBatchSize: number;
  /** The secret files to render before exec (files.ts); undefined when there are none. */
  readonly secretFiles: SecretFilesSpec | undefined;
  /** Daemon refresh (refresh.ts); any of its settings implies daemon mode. */
  readonly refresh: RefreshConfig;
}

export interface RefreshConfig {
  /** How often to re-read the secrets; undefined: only re-issue what expires. */
  readonly intervalMs: number | undefined;
  readonly reload: Reload;
  /** Whether any refresh setting was given (it implies daemon mode). */
  readonly asked: boolean;
}

/** Parses the settings. Throws ConfigError naming the variable for a value it cannot use. */
export function parseConfig(env: Environment): Config {
  const get = (name: EnvName): string | undefined => {
    const v = env[name];
    return v === undefined || v.trim() === '' ? undefined : v.trim();
  };
  const rawToken = get(Env.TOKEN);
  const loginPassthrough = rawToken === LOGIN_VALUE;
  const token = loginPassthrough ? undefined : rawToken;
  const tokenFile = get(Env.TOKEN_FILE);
  const config: Config = {
    addr: parseAddr(get(Env.ADDR)),
    authMethod: parseAuthMethod(get(Env.AUTH_METHOD), token ?? tokenFile),
    authPath: pathSetting(Env.AUTH_PATH, get(Env.AUTH_PATH) ?? Defaults.AUTH_PATH),
    role: get(Env.ROLE),
    namespace: optionalPath(Env.NAMESPACE, get(Env.NAMESPACE)),
    skipVerify: parseBool(Env.SKIP_VERIFY, get(Env.SKIP_VERIFY), false),
    caCertFile: get(Env.CACERT),
    // Capped: Node fires a timer (AbortSignal.timeout too) of more than 2^31-1 ms after 1 ms.
    clientTimeoutMs: Math.min(
      parseDurationSetting(Env.CLIENT_TIMEOUT, get(Env.CLIENT_TIMEOUT) ?? Defaults.CLIENT_TIMEOUT),
      MAX_TIMER_MS,
    ),
    ignoreMissing: parseBool(Env.IGNORE_MISSING_SECRETS, get(Env.IGNORE_MISSING_SECRETS), false),
    passthrough: new Set(parseList(get(Env.ENV_PASSTHROUGH))),
    daemon: parseBool(Env.ENV_DAEMON, get(Env.ENV_DAEMON), false),
    fromPaths: parseList(get(Env.ENV_FROM_PATH)).map(fromPath),
    transitKeyId: optionalPath(Env.TRANSIT_KEY_ID, get(Env.TRANSIT_KEY_ID)),
    transitPath: pathSetting(Env.TRANSIT_PATH, get(Env.TRANSIT_PATH) ?? Defaults.TRANSIT_PATH),
    logLevel: parseLogLevel(get(Env.LOG_LEVEL)),
    jsonLog: parseBool(Env.JSON_LOG, get(Env.JSON_LOG), true),
    token,
    tokenFile,
    roleId: get(Env.ROLE_ID),
    secretId: get(Env.SECRET_ID),
    saTokenFile: get(Env.SA_TOKEN) ?? DEFAULT_SA_TOKEN_PATH,
    loginPassthrough,
    proxy: parseProxy(env),
    envDelayMs: parseDelay(get(Env.ENV_DELAY)),
    transitBatchSize: parseBatchSize(get(Env.TRANSIT_BATCH_SIZE)),
    secretFiles: parseSecretFiles(get(Env.SECRET_FILES)),
    refresh: parseRefresh(get),
  };
  if (config.refresh.asked && !config.daemon) {
    if (get(Env.ENV_DAEMON) !== undefined) {
      throw new ConfigError(`${Env.ENV_DAEMON} is false, but a refresh setting needs daemon mode`);
    }
    return Object.freeze({ ...config, daemon: true });
  }
  return Object.freeze(config);
}

function parseAddr(raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(raw);
  } catch (cause) {
    throw new ConfigError(`${Env.ADDR} "${raw}" is not a URL`, { cause });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ConfigError(`${Env.ADDR} "${raw}" must start with http:// or https://`);
  }
  if (url.username !== '' || url.password !== '') {
    throw new ConfigError(`${Env.ADDR} must not hold credentials`);
  }
  return `${url.origin}${url.pathname}`.replace(/\/+$/, '');
}

function parseProxy(env: Environment): ProxyConfig | undefined {
  try {
    return proxyConfigFromEnv(env);
  } catch (cause) {
    // The message names the variable, never its value (it may hold the proxy's password).
    throw new ConfigError((cause as Error).message, { cause });
  }
}

function parseRefresh(get: (name: EnvName) => string | undefined): RefreshConfig {
  const rawInterval = get(Env.REFRESH_INTERVAL);
  const rawMode = get(Env.RELOAD);
  const rawSignal = get(Env.RELOAD_SIGNAL);
  let intervalMs: number | undefined;
  if (rawInterval !== undefined) {
    const ms = parseRefreshInterval(rawInterval);
    if (typeof ms !== 'number') {
      throw new ConfigError(`${Env.REFRESH_INTERVAL} "${rawInterval}" ${ms.problem}`);
    }
    intervalMs = Math.min(ms, MAX_TIMER_MS);
  }
  const mode = rawMode === undefined ? undefined : parseReloadMode(rawMode);
  if (rawMode !== undefined && mode === undefined) {
    throw new ConfigError(`${Env.RELOAD} "${rawMode}" is not one of ${RELOAD_MODES.join(', ')}`);
  }
  const signal = rawSignal === undefined ? undefined : parseReloadSignal(rawSignal);
  if (rawSignal !== undefined && signal === undefined) {
    throw new ConfigError(
      `${Env.RELOAD_SIGNAL} "${rawSignal}" is not one of ${RELOAD_SIGNALS.join(', ')}`,
    );
  }
  const reload = reloadOf(mode, signal);
  if ('problem' in reload) throw new ConfigError(`${Env.RELOAD}: ${reload.problem}`);
  const asked = rawInterval !== undefined || rawMode !== undefined || rawSignal !== undefined;
  return { intervalMs, reload, asked };
}

function parseSecretFiles(raw: string | undefined): SecretFilesSpec | undefined {
  if (raw === undefined) return undefined;
  try {
    return decodeSecretFiles(raw);
  } catch (cause) {
    throw new ConfigError(`${Env.SECRET_FILES} ${(cause as Error).message}`, { cause });
  }
}

/**
 * VAULT_AUTH_METHOD; when unset, `token` if the container brings a token (VAULT_TOKEN other than
 * `vault:login`, or VAULT_TOKEN_FILE), as vault-env uses one before any login, else `kubernetes`.
 */
function parseAuthMethod(raw: string | undefined, token: string | undefined): AuthMethod {
  if (raw === undefined) return token === undefined ? Defaults.AUTH_METHOD : 'token';
  const m = AUTH_METHODS.find((a) => a === raw.toLowerCase());
  if (!m) {
    throw new ConfigError(`${Env.AUTH_METHOD} "${raw}" is not one of ${AUTH_METHODS.join(', ')}`);
  }
  return m;
}

function parseLogLevel(raw: string | undefined): LogLevel {
  if (raw === undefined) return 'info';
  const lower = raw.toLowerCase();
  if (lower === 'warning') return 'warn';
  if (lower === 'trace') return 'debug';
  if (lower === 'fatal' || lower === 'panic') return 'error';
  const level = LOG_LEVELS.find((l) => l === lower);
  if (!level)
    throw new ConfigError(`${Env.LOG_LEVEL} "${raw}" is not one of ${LOG_LEVELS.join(', ')}`);
  return level;
}

/** A boolean setting (Go's strconv.ParseBool, as Bank-Vaults reads its booleans). */
export function parseBool(name: string, raw: string | undefined, fallback: boolean): boolean {
  if (raw === undefined) return fallback;
  const value = parseBoolean(raw);
  if (value === undefined)
    throw new ConfigError(`${name} "${raw}" is not a boolean (true or false)`);
  return value;
}

/** VAULT_ENV_DELAY: a Go duration or seconds, zero allowed (no delay); capped like every timer. */
function parseDelay(raw: string | undefined): number {
  if (raw === undefined) return 0;
  const ms = parseDurationMs(raw);
  if (ms === undefined || ms < 0) {
    throw new ConfigError(`${Env.ENV_DELAY} "${raw}" is not a duration such as 5s, 500ms or 1m`);
  }
  return Math.min(Math.round(ms), MAX_TIMER_MS);
}

/** VAULT_TRANSIT_BATCH_SIZE: a whole number of ciphertexts per call; 0 or unset: one call. */
function parseBatchSize(raw: string | undefined): number {
  if (raw === undefined) return 0;
  if (!/^\d{1,9}$/.test(raw)) {
    throw new ConfigError(`${Env.TRANSIT_BATCH_SIZE} "${raw}" is not a whole number`);
  }
  return Number(raw);
}

/** The longest delay a Node timer keeps (about 24.8 days); a longer one fires after 1 ms. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** A positive duration setting in whole milliseconds (at least 1): a Go duration or seconds. */
export function parseDurationSetting(name: string, raw: string): number {
  const ms = parseDurationMs(raw);
  if (ms === undefined || ms <= 0) {
    throw new ConfigError(`${name} "${raw}" is not a positive duration such as 10s, 500ms or 1m`);
  }
  return Math.max(1, Math.round(ms));
}

/**
 * A setting that becomes part of a request path or header (auth and transit mounts, from-paths,
 * the namespace, the transit key): the rules of a reference's path (docs/references.md), slashes
 * at either end dropped. Anything else is a bad setting (78), named in one line.
 */
function pathSetting(name: EnvName, raw: string): string {
  const problem = pathSettingProblem(name, raw);
  if (problem !== undefined) throw new ConfigError(problem);
  return trimSlashes(raw);
}

function fromPath(item: string): FromPath {
  const parsed = parseFromPath(item);
  if ('problem' in parsed)
    throw new ConfigError(settingLine(Env.ENV_FROM_PATH, item, parsed.problem));
  return parsed;
}

function optionalPath(name: EnvName, raw: string | undefined): string | undefined {
  return raw === undefined ? undefined : pathSetting(name, raw);
}
