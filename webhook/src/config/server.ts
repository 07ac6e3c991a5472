/**
 * The admission and telemetry servers: listeners, certificates, the review deadline, shutdown and
 * the limits every HTTPS connection lives under (docs/configuration.md#connections).
 */
import {
  collect,
  type FlagSection,
  type FlagSpec,
  type FlagValues,
  type Problems,
} from './flags.ts';
import { E } from './injection.ts';
import { TLS_AUTO_FLAGS, readAutoTls, type AutoTlsConfig } from './tls-auto.ts';

export type { AutoTlsConfig } from './tls-auto.ts';

export interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

/** How long each phase of an HTTPS connection may take, and how many may be open at once. */
export interface ConnectionLimits {
  /** TCP accepted → TLS handshake done. */
  readonly handshakeTimeoutMs: number;
  /** Handshake done → the first request: the longest silence (each byte restarts it). */
  readonly idleTimeoutMs: number;
  /** A request's start (the first one's: the connection's opening) → its headers received. */
  readonly headerTimeoutMs: number;
  /** A request's first byte → its whole body received. */
  readonly bodyTimeoutMs: number;
  /** A response sent → the next request begins. */
  readonly keepAliveTimeoutMs: number;
  /** Open connections; more are closed as soon as they are accepted. */
  readonly maxConnections: number;
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
  readonly connections: ConnectionLimits;
}

const LISTEN_FLAGS = [
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
] as const satisfies readonly FlagSpec[];

const REVIEW_FLAGS = [
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
] as const satisfies readonly FlagSpec[];

const CONNECTION_FLAGS = [
  {
    flag: 'handshake-timeout',
    env: E('HANDSHAKE_TIMEOUT'),
    default: '5s',
    help: 'close an HTTPS connection whose TLS handshake takes longer',
  },
  {
    flag: 'idle-timeout',
    env: E('IDLE_TIMEOUT'),
    default: '5s',
    help: 'close a connection that sends no request this long after its handshake',
  },
  {
    flag: 'header-timeout',
    env: E('HEADER_TIMEOUT'),
    default: '8s',
    help: 'close a connection whose request headers take longer to arrive',
  },
  {
    flag: 'body-timeout',
    env: E('BODY_TIMEOUT'),
    default: '10s',
    help: 'close a connection whose request (headers and body) takes longer to arrive',
  },
  {
    flag: 'keep-alive-timeout',
    env: E('KEEP_ALIVE_TIMEOUT'),
    default: '72s',
    help: 'close a connection that sends no new request this long after a response',
  },
  {
    flag: 'max-connections',
    env: E('MAX_CONNECTIONS'),
    default: '1000',
    help: 'HTTPS connections open at once; more are closed when accepted',
  },
] as const satisfies readonly FlagSpec[];

export const SERVER_FLAGS = [
  ...LISTEN_FLAGS,
  ...TLS_AUTO_FLAGS,
  ...REVIEW_FLAGS,
  ...CONNECTION_FLAGS,
] as const satisfies readonly FlagSpec[];

/** The server flags in the groups `--help` shows. */
export const SERVER_SECTIONS: readonly FlagSection[] = [
  { title: 'listeners and certificates', flags: LISTEN_FLAGS },
  { title: 'certificates kept in a Secret (--tls-auto)', flags: TLS_AUTO_FLAGS },
  { title: 'reviews', flags: REVIEW_FLAGS },
  { title: 'connections', flags: CONNECTION_FLAGS },
];

type Name = (typeof SERVER_FLAGS)[number]['flag'];

/** The longest `timeoutSeconds` a webhook configuration may have (admissionregistration/v1). */
export const MAX_WEBHOOK_TIMEOUT_MS = 30_000;

/** `HOST:PORT`, `:PORT` (every address) or `[IPv6]:PORT`; undefined for anything else. */
export function listenAddress(text: string): ListenAddress | undefined {
  const m = /^(\[[^\]]+\]|[^:]*):(\d{1,5})$/.exec(text);
  const port = Number(m?.[2]);
  if (!m || port > 65535) return undefined;
  const host = (m[1] ?? '').replace(/^\[|\]$/g, '');
  return { host: host === '' ? '0.0.0.0' : host, port };
}

function listen(p: Problems<Name>, name: 'listen' | 'telemetry-listen'): ListenAddress {
  const text = p.text(name);
  const address = listenAddress(text);
  if (!address) p.add(name, `"${text}" is not HOST:PORT`);
  return address ?? { host: '', port: 0 };
}

function readConnections(p: Problems<Name>): ConnectionLimits {
  const limits: ConnectionLimits = {
    handshakeTimeoutMs: p.positiveDuration('handshake-timeout'),
    idleTimeoutMs: p.positiveDuration('idle-timeout'),
    headerTimeoutMs: p.positiveDuration('header-timeout'),
    bodyTimeoutMs: p.positiveDuration('body-timeout'),
    keepAliveTimeoutMs: p.positiveDuration('keep-alive-timeout'),
    maxConnections: p.integer('max-connections', 1, 1_000_000),
  };
  // Node.js refuses a header timeout longer than the whole request's.
  if (limits.headerTimeoutMs > limits.bodyTimeoutMs) {
    p.addText('--header-timeout must not be longer than --body-timeout (headers are part of it)');
  }
  return Object.freeze(limits);
}

function checkTls(p: Problems<Name>, server: ServerConfig): void {
  const files = server.tlsCertFile !== '' || server.tlsKeyFile !== '';
  if (server.auto && (files || server.selfSigned)) {
    p.addText('--tls-auto excludes --tls-cert-file/--tls-key-file and --self-signed');
  }
  const bothFiles = server.tlsCertFile !== '' && server.tlsKeyFile !== '';
  if (!server.selfSigned && !server.auto && !bothFiles) {
    p.addText(
      'set --tls-cert-file and --tls-key-file, or --tls-auto, or --self-signed for local use',
    );
  }
  if (server.auto && server.auto.overlapMs < 2 * server.tlsReloadIntervalMs) {
    p.addText(
      '--tls-auto-overlap must be at least twice --tls-reload-interval: every replica must poll the Secret within it',
    );
  }
}

/** The server settings; every bad value is added to `p`. */
export function readServer(p: Problems<Name>): ServerConfig {
  const server: ServerConfig = {
    listen: listen(p, 'listen'),
    telemetryListen: listen(p, 'telemetry-listen'),
    tlsCertFile: p.text('tls-cert-file'),
    tlsKeyFile: p.text('tls-key-file'),
    selfSigned: p.bool('self-signed'),
    auto: readAutoTls(p),
    tlsReloadIntervalMs: p.duration('tls-reload-interval'),
    requestDeadlineMs: p.duration('request-deadline'),
    shutdownDelayMs: p.duration('shutdown-delay'),
    readSources: p.bool('read-sources'),
    connections: readConnections(p),
  };
  checkTls(p, server);
  // The API server waits at most 30 s for a webhook (timeoutSeconds); a deadline at or past it
  // would never answer first, and one of 0 would deny every pod.
  const deadline = server.requestDeadlineMs;
  if (deadline <= 0 || deadline >= MAX_WEBHOOK_TIMEOUT_MS) {
    p.add(
      'request-deadline',
      `must be more than 0 and below ${MAX_WEBHOOK_TIMEOUT_MS / 1000}s, the API server's longest webhook timeout (set it below the webhook's timeoutSeconds)`,
    );
  }
  return Object.freeze(server);
}

/** The server settings alone; throws naming every bad value. */
export function serverConfig(flags: FlagValues): ServerConfig {
  return collect(flags, readServer);
}
