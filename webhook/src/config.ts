/**
 * Flags and environment, parsed once into a frozen, typed object. Every flag also reads from an
 * environment variable (the flag wins). docs/configuration.md lists them; a unit test keeps the two
 * in step. Nothing else in the webhook reads `process.env` or `process.argv`.
 */
import {
  AUTH_METHODS,
  parseBoolean,
  parseDurationMs,
  parseList,
  type AuthMethod,
} from '../../init-binary/src/contract/index.ts';
import { ErrorCode, WebhookError } from './errors.ts';
import { checkNames } from './tls/authority.ts';
import { policyProblem } from './tls/auto/schedule.ts';
import type { Delivery, InjectionConfig } from './mutation/settings.ts';
import { VERSION } from './version.ts';

export interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

/** `--tls-auto`: certificates kept in a Secret by the replica holding a Lease (tls/auto/). */
export interface AutoTlsConfig {
  /** '' when not given: main.ts fills in the service account's namespace. */
  readonly namespace: string;
  readonly secretName: string;
  readonly leaseName: string;
  readonly webhookConfigName: string;
  readonly service: string;
  readonly extraDnsNames: readonly string[];
  readonly ips: readonly string[];
  readonly servingValidityMs: number;
  readonly caValidityMs: number;
  readonly overlapMs: number;
  readonly identity: string;
}

export interface ServerConfig {
  readonly listen: ListenAddress;
  readonly telemetryListen: ListenAddress;
  readonly tlsCertFile: string;
  readonly tlsKeyFile: string;
  readonly selfSigned: boolean;
  /** Set with `--tls-auto`. */
  readonly auto: AutoTlsConfig | undefined;
  /** How often the certificate files (or the auto Secret) are checked for a change. */
  readonly tlsReloadIntervalMs: number;
  /** Every review answers within this time; below the API server's webhook timeout (10 s). */
  readonly requestDeadlineMs: number;
  /** After SIGTERM, `/readyz` fails for this long before the listener closes. */
  readonly shutdownDelayMs: number;
  /** Read Secrets/ConfigMaps named by valueFrom/envFrom to find references behind them. */
  readonly readSources: boolean;
}

/** What to do with a pod whose container's image cannot be looked up. */
export type RegistryFailurePolicy = 'deny' | 'admit';

/** Image config lookups for containers without `command` (docs/registry.md). */
export interface RegistryConfig {
  /** Per lookup, every request included; below the request deadline. */
  readonly timeoutMs: number;
  /** `os/architecture[/variant]` when the pod's placement pins none. */
  readonly platform: string;
  /** How long a tag → digest answer is trusted. */
  readonly tagTtlMs: number;
  /** Extra CA bundles by registry host (normalised: `docker.io`, `r.example:5000`). */
  readonly caFiles: readonly { readonly host: string; readonly file: string }[];
  readonly insecureSkipVerify: readonly string[];
  readonly plainHttp: readonly string[];
  /** A docker config.json tried after the pod's and its service account's pull secrets. */
  readonly defaultDockerConfigFile: string;
  readonly failurePolicy: RegistryFailurePolicy;
}

export interface Config {
  readonly injection: InjectionConfig;
  readonly server: ServerConfig;
  readonly registry: RegistryConfig;
  readonly logLevel: string;
}

export interface FlagSpec {
  readonly flag: string;
  readonly env: string;
  readonly default: string;
  /** A flag given without `=value` means `true`. */
  readonly boolean?: true;
  /** May be given more than once; the values are joined with `,` (the variable is a comma list). */
  readonly repeatable?: true;
  readonly help: string;
}

const E = (name: string): string => `VAULT_INJECT_${name}`;

/** Every flag of `vault-inject webhook` (and the injection flags of `vault-inject mutate`). */
export const FLAGS = [
  {
    flag: 'vault-addr',
    env: 'VAULT_ADDR',
    default: 'https://vault.vault:8200',
    help: 'default Vault address for pods',
  },
  {
    flag: 'allowed-vault-addrs',
    env: E('ALLOWED_VAULT_ADDRS'),
    default: '',
    help: 'comma list of addresses a vault-addr annotation may name, besides --vault-addr',
  },
  {
    flag: 'auth-path',
    env: E('AUTH_PATH'),
    default: 'kubernetes',
    help: 'default Vault auth mount path',
  },
  {
    flag: 'auth-method',
    env: E('AUTH_METHOD'),
    default: 'kubernetes',
    help: `default auth method (${AUTH_METHODS.join(', ')})`,
  },
  {
    flag: 'allow-skip-verify',
    env: E('ALLOW_SKIP_VERIFY'),
    default: 'false',
    boolean: true,
    help: 'honour the skip-verify annotation',
  },
  {
    flag: 'init-image',
    env: E('INIT_IMAGE'),
    default: `ghcr.io/vault-inject/vault-inject-init:${VERSION}`,
    help: 'image holding the /vault-inject bundle',
  },
  {
    flag: 'init-image-pull-policy',
    env: E('INIT_IMAGE_PULL_POLICY'),
    default: 'IfNotPresent',
    help: 'Always, IfNotPresent or Never',
  },
  {
    flag: 'delivery',
    env: E('DELIVERY'),
    default: 'emptydir',
    help: 'emptydir (copy init container) or image (image volume, Kubernetes >= 1.33)',
  },
  { flag: 'emptydir-medium', env: E('EMPTYDIR_MEDIUM'), default: 'disk', help: 'disk or memory' },
  {
    flag: 'copy-cpu-request',
    env: E('COPY_CPU_REQUEST'),
    default: '10m',
    help: 'copy init container CPU request',
  },
  {
    flag: 'copy-memory-request',
    env: E('COPY_MEMORY_REQUEST'),
    default: '64Mi',
    help: 'copy init container memory request',
  },
  {
    flag: 'copy-cpu-limit',
    env: E('COPY_CPU_LIMIT'),
    default: '',
    help: 'copy init container CPU limit (empty: none)',
  },
  {
    flag: 'copy-memory-limit',
    env: E('COPY_MEMORY_LIMIT'),
    default: '128Mi',
    help: 'copy init container memory limit',
  },
  {
    flag: 'init-log-level',
    env: E('INIT_LOG_LEVEL'),
    default: '',
    help: 'VAULT_LOG_LEVEL given to the init program (empty: its default)',
  },
  {
    flag: 'listen',
    env: E('LISTEN'),
    default: '0.0.0.0:8443',
    help: 'HTTPS address for POST /mutate',
  },
  {
    flag: 'telemetry-listen',
    env: E('TELEMETRY_LISTEN'),
    default: '0.0.0.0:8080',
    help: 'HTTP address for /healthz, /readyz, /metrics',
  },
  {
    flag: 'tls-cert-file',
    env: E('TLS_CERT_FILE'),
    default: '',
    help: 'serving certificate (PEM), reloaded when it changes',
  },
  {
    flag: 'tls-key-file',
    env: E('TLS_KEY_FILE'),
    default: '',
    help: 'serving key (PEM), reloaded when it changes',
  },
  {
    flag: 'self-signed',
    env: E('SELF_SIGNED'),
    default: 'false',
    boolean: true,
    help: 'generate a self-signed certificate (local use)',
  },
  {
    flag: 'tls-reload-interval',
    env: E('TLS_RELOAD_INTERVAL'),
    default: '5s',
    help: 'how often the certificate files (in auto mode: the Secret) are checked',
  },
  {
    flag: 'tls-auto',
    env: E('TLS_AUTO'),
    default: 'false',
    boolean: true,
    help: 'manage the CA and serving certificate in a Secret, coordinated through a Lease',
  },
  {
    flag: 'tls-auto-namespace',
    env: E('TLS_AUTO_NAMESPACE'),
    default: '',
    help: 'namespace of the Secret and Lease (empty: the namespace of the service account)',
  },
  {
    flag: 'tls-auto-secret',
    env: E('TLS_AUTO_SECRET'),
    default: 'vault-inject-tls',
    help: 'the kubernetes.io/tls Secret holding the CA and serving certificate',
  },
  {
    flag: 'tls-auto-lease',
    env: E('TLS_AUTO_LEASE'),
    default: 'vault-inject-certificates',
    help: 'the coordination.k8s.io Lease naming the replica that rotates',
  },
  {
    flag: 'tls-auto-webhook-config',
    env: E('TLS_AUTO_WEBHOOK_CONFIG'),
    default: 'vault-inject',
    help: 'the MutatingWebhookConfiguration whose caBundle is kept (empty: none)',
  },
  {
    flag: 'tls-auto-service',
    env: E('TLS_AUTO_SERVICE'),
    default: 'vault-inject',
    help: 'the Service the API server calls: its DNS names go into the certificate',
  },
  {
    flag: 'tls-auto-dns',
    env: E('TLS_AUTO_DNS'),
    default: '',
    repeatable: true,
    help: 'an extra DNS name in the serving certificate (repeatable; comma list in the variable)',
  },
  {
    flag: 'tls-auto-ip',
    env: E('TLS_AUTO_IP'),
    default: '',
    repeatable: true,
    help: 'an extra IP address in the serving certificate (repeatable; comma list in the variable)',
  },
  {
    flag: 'tls-auto-serving-validity',
    env: E('TLS_AUTO_SERVING_VALIDITY'),
    default: '2160h',
    help: 'lifetime of a serving certificate; renewed two thirds through',
  },
  {
    flag: 'tls-auto-ca-validity',
    env: E('TLS_AUTO_CA_VALIDITY'),
    default: '26280h',
    help: 'lifetime of the CA; replaced two thirds through, trusted alongside the old one meanwhile',
  },
  {
    flag: 'tls-auto-overlap',
    env: E('TLS_AUTO_OVERLAP'),
    default: '1m',
    help: 'during a CA change, how long each step waits for replicas and the API server to follow',
  },
  {
    flag: 'tls-auto-identity',
    env: E('TLS_AUTO_IDENTITY'),
    default: '',
    help: 'this replica in the Lease (empty: host name and a random suffix)',
  },
  {
    flag: 'request-deadline',
    env: E('REQUEST_DEADLINE'),
    default: '8s',
    help: "answer every review within this time; above 0, below 30s and the webhook's timeoutSeconds",
  },
  {
    flag: 'shutdown-delay',
    env: E('SHUTDOWN_DELAY'),
    default: '3s',
    help: 'after SIGTERM, fail /readyz this long before closing',
  },
  {
    flag: 'read-sources',
    env: E('READ_SOURCES'),
    default: 'true',
    boolean: true,
    help: 'read Secrets/ConfigMaps behind valueFrom/envFrom to detect references',
  },
  {
    flag: 'registry-timeout',
    env: E('REGISTRY_TIMEOUT'),
    default: '2s',
    help: 'per image lookup in a registry, every request included (below --request-deadline)',
  },
  {
    flag: 'registry-platform',
    env: E('REGISTRY_PLATFORM'),
    default: 'linux/amd64',
    help: 'platform looked up in multi-arch images unless the pod pins kubernetes.io/os or /arch',
  },
  {
    flag: 'registry-tag-ttl',
    env: E('REGISTRY_TAG_TTL'),
    default: '60s',
    help: 'how long a tag → digest answer is trusted',
  },
  {
    flag: 'registry-ca',
    env: E('REGISTRY_CA'),
    default: '',
    repeatable: true,
    help: 'HOST=FILE: a PEM CA bundle trusted for that registry (repeatable; comma list in the variable)',
  },
  {
    flag: 'registry-insecure-skip-verify',
    env: E('REGISTRY_INSECURE_SKIP_VERIFY'),
    default: '',
    help: 'comma list of registry hosts whose TLS certificate is not verified',
  },
  {
    flag: 'registry-plain-http',
    env: E('REGISTRY_PLAIN_HTTP'),
    default: '',
    help: 'comma list of registry hosts spoken to over plain HTTP',
  },
  {
    flag: 'registry-default-docker-config',
    env: E('REGISTRY_DEFAULT_DOCKER_CONFIG'),
    default: '',
    help: 'a docker config.json tried after the pull secrets of the pod and its service account',
  },
  {
    flag: 'registry-failure-policy',
    env: E('REGISTRY_FAILURE_POLICY'),
    default: 'deny',
    help: 'deny: deny a pod whose image cannot be looked up; admit: admit it unmutated with a warning',
  },
  {
    flag: 'log-level',
    env: E('LOG_LEVEL'),
    default: 'info',
    help: 'trace, debug, info, warn, error',
  },
] as const satisfies readonly FlagSpec[];

export type FlagName = (typeof FLAGS)[number]['flag'];
export type RawFlags = Readonly<Record<FlagName, string>>;

const BY_NAME: ReadonlyMap<string, FlagSpec> = new Map(FLAGS.map((f) => [f.flag, f]));

function configError(message: string): WebhookError {
  return new WebhookError(ErrorCode.CONFIG, message);
}

/**
 * Splits `argv` into known flags and the rest (positional arguments and flags in `extra`, which
 * the caller handles), then fills every flag from `env` or its default.
 */
export function readFlags(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  extra: readonly FlagSpec[] = [],
): { flags: Readonly<Record<string, string>>; positional: string[] } {
  const specs = new Map(BY_NAME);
  for (const f of extra) specs.set(f.flag, f);
  const given = new Map<string, string>();
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (!arg.startsWith('--') || arg === '--') {
      positional.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    const spec = specs.get(name);
    if (!spec) throw configError(`unknown flag --${name}`);
    let value: string;
    if (eq >= 0) value = arg.slice(eq + 1);
    else if (spec.boolean) value = 'true';
    else if (i + 1 < argv.length) value = argv[++i] as string;
    else throw configError(`flag --${name} needs a value`);
    const before = given.get(name);
    given.set(name, spec.repeatable && before !== undefined ? `${before},${value}` : value);
  }
  const flags: Record<string, string> = {};
  for (const [name, spec] of specs) flags[name] = given.get(name) ?? env[spec.env] ?? spec.default;
  return { flags, positional };
}

/**
 * `10s`, `1.5s`, `1m30s`, `250ms`, `30` (seconds) → whole milliseconds: the parser the init
 * program and the annotations use (Go's duration syntax, or a plain number of seconds).
 */
export function parseDuration(text: string): number | undefined {
  const ms = parseDurationMs(text);
  return ms === undefined ? undefined : Math.round(ms);
}

function duration(flags: Record<string, string>, name: FlagName): number {
  const value = flags[name] ?? '';
  const ms = parseDuration(value);
  if (ms === undefined)
    throw configError(`--${name}: "${value}" is not a duration like 5s or 1m30s`);
  return ms;
}

function bool(flags: Record<string, string>, name: FlagName): boolean {
  const value = flags[name] ?? '';
  const b = value === '' ? false : parseBoolean(value);
  if (b === undefined) throw configError(`--${name}: "${value}" is not true or false`);
  return b;
}

function oneOf<T extends string>(
  flags: Record<string, string>,
  name: FlagName,
  allowed: readonly T[],
): T {
  const value = flags[name] ?? '';
  if (!(allowed as readonly string[]).includes(value)) {
    throw configError(`--${name}: "${value}" is not one of ${allowed.join(', ')}`);
  }
  return value as T;
}

export function parseListen(text: string, flag = 'listen'): ListenAddress {
  const m = /^(\[[^\]]+\]|[^:]*):(\d{1,5})$/.exec(text);
  const port = Number(m?.[2]);
  if (!m || port > 65535) throw configError(`--${flag}: "${text}" is not HOST:PORT`);
  const host = (m[1] ?? '').replace(/^\[|\]$/g, '');
  return { host: host === '' ? '0.0.0.0' : host, port };
}

function resources(flags: Record<string, string>): InjectionConfig['copyResources'] {
  const pick = (cpu: string | undefined, memory: string | undefined): Record<string, string> => {
    const r: Record<string, string> = {};
    if (cpu) r.cpu = cpu;
    if (memory) r.memory = memory;
    return r;
  };
  const requests = pick(flags['copy-cpu-request'], flags['copy-memory-request']);
  const limits = pick(flags['copy-cpu-limit'], flags['copy-memory-limit']);
  return {
    ...(Object.keys(requests).length > 0 ? { requests } : {}),
    ...(Object.keys(limits).length > 0 ? { limits } : {}),
  };
}

const HTTP_URL = /^https?:\/\/[^\s/]+/;

export function injectionConfig(flags: Record<string, string>): InjectionConfig {
  const vaultAddr = flags['vault-addr'] ?? '';
  if (!HTTP_URL.test(vaultAddr)) {
    throw configError(`--vault-addr: "${vaultAddr}" is not an http(s) URL`);
  }
  const allowed = parseList(flags['allowed-vault-addrs'] ?? '');
  // An entry that is not a URL could never match an annotation: say so at start, not per pod.
  const notUrl = allowed.find((a) => !HTTP_URL.test(a));
  if (notUrl !== undefined) {
    throw configError(`--allowed-vault-addrs: "${notUrl}" is not an http(s) URL`);
  }
  return Object.freeze({
    vaultAddr,
    allowedVaultAddrs: Object.freeze(allowed),
    authPath: flags['auth-path'] || 'kubernetes',
    authMethod: oneOf<AuthMethod>(flags, 'auth-method', AUTH_METHODS),
    allowSkipVerify: bool(flags, 'allow-skip-verify'),
    initImage: flags['init-image'] ?? '',
    initImagePullPolicy: oneOf(flags, 'init-image-pull-policy', [
      'Always',
      'IfNotPresent',
      'Never',
    ]),
    delivery: oneOf<Delivery>(flags, 'delivery', ['emptydir', 'image']),
    emptyDirMedium:
      oneOf(flags, 'emptydir-medium', ['disk', 'memory']) === 'memory' ? 'Memory' : '',
    copyResources: resources(flags),
    initLogLevel: flags['init-log-level'] ?? '',
  });
}

function autoTlsConfig(flags: Record<string, string>): AutoTlsConfig | undefined {
  if (!bool(flags, 'tls-auto')) return undefined;
  const auto: AutoTlsConfig = {
    namespace: flags['tls-auto-namespace'] ?? '',
    secretName: flags['tls-auto-secret'] ?? '',
    leaseName: flags['tls-auto-lease'] ?? '',
    webhookConfigName: flags['tls-auto-webhook-config'] ?? '',
    service: flags['tls-auto-service'] ?? '',
    extraDnsNames: Object.freeze(parseList(flags['tls-auto-dns'] ?? '')),
    ips: Object.freeze(parseList(flags['tls-auto-ip'] ?? '')),
    servingValidityMs: duration(flags, 'tls-auto-serving-validity'),
    caValidityMs: duration(flags, 'tls-auto-ca-validity'),
    overlapMs: duration(flags, 'tls-auto-overlap'),
    identity: flags['tls-auto-identity'] ?? '',
  };
  for (const name of ['tls-auto-secret', 'tls-auto-lease', 'tls-auto-service'] as const) {
    if ((flags[name] ?? '') === '') throw configError(`--${name}: must not be empty`);
  }
  const problem = policyProblem(auto);
  if (problem) throw configError(`--tls-auto-*: ${problem}`);
  try {
    checkNames({ dnsNames: auto.extraDnsNames, ips: auto.ips });
  } catch (err) {
    throw configError(`--tls-auto-dns/--tls-auto-ip: ${(err as Error).message}`);
  }
  return Object.freeze(auto);
}

/** The longest `timeoutSeconds` a webhook configuration may have (admissionregistration/v1). */
export const MAX_WEBHOOK_TIMEOUT_MS = 30_000;

export function serverConfig(flags: Record<string, string>): ServerConfig {
  const server: ServerConfig = {
    listen: parseListen(flags.listen ?? '', 'listen'),
    telemetryListen: parseListen(flags['telemetry-listen'] ?? '', 'telemetry-listen'),
    tlsCertFile: flags['tls-cert-file'] ?? '',
    tlsKeyFile: flags['tls-key-file'] ?? '',
    selfSigned: bool(flags, 'self-signed'),
    auto: autoTlsConfig(flags),
    tlsReloadIntervalMs: duration(flags, 'tls-reload-interval'),
    requestDeadlineMs: duration(flags, 'request-deadline'),
    shutdownDelayMs: duration(flags, 'shutdown-delay'),
    readSources: bool(flags, 'read-sources'),
  };
  const files = server.tlsCertFile !== '' || server.tlsKeyFile !== '';
  if (server.auto && (files || server.selfSigned)) {
    throw configError('--tls-auto excludes --tls-cert-file/--tls-key-file and --self-signed');
  }
  if (
    !server.selfSigned &&
    !server.auto &&
    (server.tlsCertFile === '' || server.tlsKeyFile === '')
  ) {
    throw configError(
      'set --tls-cert-file and --tls-key-file, or --tls-auto, or --self-signed for local use',
    );
  }
  // The API server waits at most 30 s for a webhook (timeoutSeconds); a deadline at or past it
  // would never answer first, and one of 0 would deny every pod.
  if (server.requestDeadlineMs <= 0 || server.requestDeadlineMs >= MAX_WEBHOOK_TIMEOUT_MS) {
    throw configError(
      `--request-deadline: must be more than 0 and below ${MAX_WEBHOOK_TIMEOUT_MS / 1000}s, the API server's longest webhook timeout (set it below the webhook's timeoutSeconds)`,
    );
  }
  if (server.auto && server.auto.overlapMs < 2 * server.tlsReloadIntervalMs) {
    throw configError(
      '--tls-auto-overlap must be at least twice --tls-reload-interval: every replica must poll the Secret within it',
    );
  }
  return Object.freeze(server);
}

const PLATFORM = /^[a-z0-9_.-]+\/[a-z0-9_.-]+(\/[a-z0-9_.-]+)?$/;

/** `HOST=FILE,HOST=FILE` of --registry-ca. */
function caFiles(text: string): RegistryConfig['caFiles'] {
  return parseList(text).map((item) => {
    const eq = item.indexOf('=');
    if (eq <= 0 || eq === item.length - 1) {
      throw configError(`--registry-ca: "${item}" is not HOST=FILE`);
    }
    return Object.freeze({ host: item.slice(0, eq), file: item.slice(eq + 1) });
  });
}

export function registryConfig(flags: Record<string, string>): RegistryConfig {
  const timeoutMs = duration(flags, 'registry-timeout');
  if (timeoutMs <= 0) throw configError('--registry-timeout: must be more than 0');
  const platform = flags['registry-platform'] ?? '';
  if (!PLATFORM.test(platform)) {
    throw configError(
      `--registry-platform: "${platform}" is not os/architecture[/variant], e.g. linux/arm64`,
    );
  }
  return Object.freeze({
    timeoutMs,
    platform,
    tagTtlMs: duration(flags, 'registry-tag-ttl'),
    caFiles: Object.freeze(caFiles(flags['registry-ca'] ?? '')),
    insecureSkipVerify: Object.freeze(parseList(flags['registry-insecure-skip-verify'] ?? '')),
    plainHttp: Object.freeze(parseList(flags['registry-plain-http'] ?? '')),
    defaultDockerConfigFile: flags['registry-default-docker-config'] ?? '',
    failurePolicy: oneOf<RegistryFailurePolicy>(flags, 'registry-failure-policy', [
      'deny',
      'admit',
    ]),
  });
}

/** The whole configuration of `vault-inject webhook`. */
export function parseConfig(flags: Record<string, string>): Config {
  const server = serverConfig(flags);
  const registry = registryConfig(flags);
  // A lookup that may outlive the review would turn a slow registry into E_DEADLINE, whatever
  // the failure policy says.
  if (registry.timeoutMs >= server.requestDeadlineMs) {
    throw configError(
      `--registry-timeout (${registry.timeoutMs} ms) must be shorter than --request-deadline (${server.requestDeadlineMs} ms)`,
    );
  }
  return Object.freeze({
    injection: injectionConfig(flags),
    server,
    registry,
    logLevel: oneOf(flags, 'log-level', ['trace', 'debug', 'info', 'warn', 'error']),
  });
}
