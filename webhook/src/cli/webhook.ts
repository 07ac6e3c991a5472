/**
 * `vault-inject webhook`: the admission server (HTTPS) and the telemetry server (HTTP).
 *
 * Startup: telemetry listens at once (`/healthz` 503 until a certificate is loaded); the HTTPS
 * listener opens after the first certificate (from files, `--tls-auto`'s Secret, or self-signed). Shutdown (`stop()`, called on SIGTERM): `/readyz`
 * fails, then after `shutdownDelayMs` (time for the endpoints to drop this pod) the HTTPS
 * listener closes, in-flight reviews finish, idle keep-alive connections close, and it resolves.
 */
import { KubeConfig } from '@kubernetes/client-node';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { buildAdmissionApp, buildTelemetryApp } from '../app.ts';
import { FLAG_SECTIONS, parseConfig, readFlags, type Config } from '../config.ts';
import { kubernetesPullSecretReader } from '../k8s/pull-secrets.ts';
import type { FailedRead } from '../k8s/read-retry.ts';
import { kubernetesSourceReader } from '../k8s/sources.ts';
import { createLogger } from '../log.ts';
import { timedLookups } from '../admission/timed-lookups.ts';
import { createMetrics } from '../metrics.ts';
import type { SourceReader } from '../mutation/sources.ts';
import type { ImageCommandLookup } from '../registry/image-command.ts';
import type { PullSecretReader } from '../registry/oci/pod-command.ts';
import { createRegistryLookup, registryProxy } from '../registry/setup.ts';
import type { ProxyConfig } from '../../../init-binary/src/contract/index.ts';
import {
  selfSignedKeyPair,
  watchKeyPair,
  type CertificateWatcher,
  type KeyPair,
} from '../tls/certificates.ts';
import { serviceDnsNames } from '../tls/authority.ts';
import { CertificateObjects } from '../tls/auto/kube.ts';
import { startAutoCertificates, type AutoCertificates } from '../tls/auto/manager.ts';
import { ErrorCode, WebhookError } from '../errors.ts';
import type { Command, Env } from './command.ts';

export interface RunningWebhook {
  readonly admissionPort: number;
  readonly telemetryPort: number;
  /** Resolves once everything is closed. */
  stop(): Promise<void>;
}

export interface WebhookOptions {
  readonly config: Config;
  readonly logger?: Logger;
  readonly sources?: SourceReader;
  /** Pull secrets of pods and service accounts; absent: only the default docker config. */
  readonly secrets?: PullSecretReader;
  /** Replaces the registry lookup built from `config.registry` (tests). */
  readonly images?: ImageCommandLookup;
  /** `--tls-auto`: the Kubernetes objects (namespace resolved) and this replica's identity. */
  readonly autoTls?: { readonly objects: CertificateObjects; readonly identity: string };
  /** Include Node process metrics (off in tests that build several servers). */
  readonly defaultMetrics?: boolean;
  /** The registry client's HTTPS_PROXY, HTTP_PROXY and NO_PROXY (registryProxy). */
  readonly proxy?: ProxyConfig;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function autoCertificates(
  options: WebhookOptions,
  logger: Logger,
  onChange: (pair: KeyPair) => void,
): AutoCertificates {
  const auto = options.config.server.auto;
  if (!auto || !options.autoTls) {
    throw new WebhookError(ErrorCode.CONFIG, '--tls-auto needs access to the Kubernetes API');
  }
  const { objects, identity } = options.autoTls;
  logger.info(
    { namespace: objects.namespace, secret: auto.secretName, lease: auto.leaseName, identity },
    'certificates managed in a Secret (auto)',
  );
  return startAutoCertificates({
    objects,
    identity,
    secretName: auto.secretName,
    leaseName: auto.leaseName,
    webhookConfigName: auto.webhookConfigName,
    names: {
      dnsNames: serviceDnsNames(auto.service, objects.namespace, auto.extraDnsNames),
      ips: auto.ips,
    },
    policy: auto,
    intervalMs: options.config.server.tlsReloadIntervalMs,
    logger,
    onChange,
  });
}

function firstCertificate(
  options: WebhookOptions,
  logger: Logger,
  onChange: (pair: KeyPair) => void,
): { watcher?: CertificateWatcher | AutoCertificates; ready: Promise<KeyPair> } {
  const { config } = options;
  if (config.server.selfSigned) {
    return { ready: selfSignedKeyPair().then((p) => (onChange(p), p)) };
  }
  const { promise: ready, resolve: resolveReady } = Promise.withResolvers<KeyPair>();
  if (config.server.auto) {
    const watcher = autoCertificates(options, logger, (pair) => {
      onChange(pair);
      resolveReady(pair);
    });
    return { watcher, ready };
  }
  const watcher = watchKeyPair({
    certFile: config.server.tlsCertFile,
    keyFile: config.server.tlsKeyFile,
    intervalMs: config.server.tlsReloadIntervalMs,
    onChange: (pair) => {
      onChange(pair);
      resolveReady(pair);
    },
    onError: (err) =>
      logger.warn({ code: err.code, reason: err.message }, 'serving certificate not loaded'),
  });
  return { watcher, ready };
}

export async function startWebhook(options: WebhookOptions): Promise<RunningWebhook> {
  const { config } = options;
  const logger = options.logger ?? createLogger(config.logLevel);
  const metrics = createMetrics({
    defaultMetrics: options.defaultMetrics ?? false,
    deadlineMs: config.server.requestDeadlineMs,
    registryTimeoutMs: config.registry.timeoutMs,
  });
  // First, so a bad --registry-* file stops the program before anything listens.
  const registry = options.images
    ? undefined
    : await createRegistryLookup(config.registry, {
        logger,
        metrics,
        ...(options.secrets ? { secrets: options.secrets } : {}),
        ...(options.proxy ? { proxy: options.proxy } : {}),
      });
  let loaded: KeyPair | undefined;
  let shuttingDown = false;
  // Set once the HTTPS listener exists; later certificates are swapped into its secure context.
  const live: { server?: HttpsServer } = {};

  const telemetry = buildTelemetryApp({
    registry: metrics.registry,
    state: { certificateLoaded: () => loaded !== undefined, shuttingDown: () => shuttingDown },
    limits: config.server.connections,
  });
  await telemetry.listen(config.server.telemetryListen);

  const onChange = (pair: KeyPair): void => {
    const reload = loaded !== undefined;
    loaded = pair;
    metrics.certificateExpiry.set(pair.expires.getTime() / 1000);
    live.server?.setSecureContext({ cert: pair.cert, key: pair.key });
    logger.info({ expires: pair.expires.toISOString(), reload }, 'serving certificate loaded');
  };
  const { watcher, ready } = firstCertificate(options, logger, onChange);
  const pair = await ready;

  const admission = buildAdmissionApp({
    https: { cert: pair.cert, key: pair.key },
    limits: config.server.connections,
    deps: {
      config: config.injection,
      ...(options.sources ? { sources: options.sources } : {}),
      images: timedLookups(
        options.images ?? (registry as NonNullable<typeof registry>).images,
        metrics,
      ),
      missingCommand: config.registry.failurePolicy === 'admit' ? 'admit' : 'deny',
      logger,
      metrics,
      deadlineMs: config.server.requestDeadlineMs,
    },
  });
  // Registry connections close with the server (after in-flight reviews).
  admission.addHook('onClose', async () => registry?.close());
  await admission.listen(config.server.listen);
  live.server = admission.server as unknown as HttpsServer;
  const admissionPort = (admission.server.address() as AddressInfo).port;
  const telemetryPort = (telemetry.server.address() as AddressInfo).port;
  logger.info({ admissionPort, telemetryPort }, 'webhook listening');
  // What a pod without annotations gets: a Bank-Vaults variable read as a default shows here.
  const { vaultAddr, authPath, authMethod, defaults } = config.injection;
  logger.info({ vaultAddr, authPath, authMethod, ...defaults }, 'pod defaults');

  return {
    admissionPort,
    telemetryPort,
    async stop() {
      shuttingDown = true;
      logger.info(
        { delayMs: config.server.shutdownDelayMs },
        'shutting down: /readyz fails from now',
      );
      await sleep(config.server.shutdownDelayMs);
      await admission.close();
      await watcher?.close();
      await telemetry.close();
      logger.info('shut down');
    },
  };
}

const SERVICE_ACCOUNT_NAMESPACE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

/** `--tls-auto`: the namespace (flag, else the pod's service account, else the kubeconfig's). */
async function autoTls(
  config: Config,
  kubeConfig: KubeConfig | undefined,
): Promise<{ objects: CertificateObjects; identity: string } | undefined> {
  const auto = config.server.auto;
  if (!auto || !kubeConfig) return undefined;
  let namespace = auto.namespace;
  if (namespace === '') {
    namespace = (await readFile(SERVICE_ACCOUNT_NAMESPACE, 'utf8').catch(() => '')).trim();
  }
  if (namespace === '')
    namespace = kubeConfig.getContextObject(kubeConfig.currentContext)?.namespace ?? '';
  if (namespace === '') {
    throw new WebhookError(ErrorCode.CONFIG, '--tls-auto-namespace: not set and not found');
  }
  const identity = auto.identity || `${hostname()}-${randomBytes(4).toString('hex')}`;
  return { objects: new CertificateObjects(kubeConfig, namespace), identity };
}

function loadKubeConfig(logger: Logger): KubeConfig | undefined {
  try {
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromDefault();
    return kubeConfig;
  } catch (err) {
    logger.warn(
      { reason: (err as Error).message },
      'no Kubernetes API access: valueFrom/envFrom not inspected, imagePullSecrets not read',
    );
    return undefined;
  }
}

/** Kubernetes readers, bounded so that the worst case ends inside the review's deadline. */
function kubernetesReaders(
  config: Config,
  kubeConfig: KubeConfig | undefined,
  logger: Logger,
): Pick<WebhookOptions, 'sources' | 'secrets'> {
  if (!kubeConfig) return {};
  // A source read, then the service account and the pull secrets one after the other, then the
  // registry. Two attempts each (k8s/read-retry.ts); one connection pool for all (k8s/api-client.ts).
  const timeoutMs = Math.min(1000, config.server.requestDeadlineMs / 8);
  const onFailedAttempt = (failed: FailedRead): void =>
    logger.warn(failed, 'Kubernetes read got no answer');
  const secrets = kubernetesPullSecretReader({
    timeoutMs,
    kubeConfig,
    onSkip: (skipped) => logger.warn(skipped, 'image pull secret not read'),
    onFailedAttempt,
  });
  if (!config.server.readSources) return { secrets };
  const sources = kubernetesSourceReader({ timeoutMs, kubeConfig, onFailedAttempt });
  return { sources, secrets };
}

/** Resolves with the signal's name at the first SIGTERM or SIGINT. */
function nextSignal(): Promise<string> {
  return new Promise((resolve) => {
    const on = (signal: string) => (): void => {
      process.off('SIGTERM', term);
      process.off('SIGINT', int);
      resolve(signal);
    };
    const term = on('SIGTERM');
    const int = on('SIGINT');
    process.once('SIGTERM', term);
    process.once('SIGINT', int);
  });
}

export const webhookCommand: Command = {
  name: 'webhook',
  usage:
    'vault-inject webhook [--tls-cert-file F --tls-key-file F | --tls-auto | --self-signed] [flags]',
  summary:
    'The admission server: POST /mutate over HTTPS, /healthz, /readyz and /metrics over HTTP.\n' +
    'Every flag also reads from the environment variable named beside it (the flag wins).',
  flags: FLAG_SECTIONS,
  notes: 'Runs until SIGTERM or SIGINT, then drains (--shutdown-delay) and exits 0.',
  async run(argv: readonly string[], env: Env): Promise<number> {
    const config = parseConfig(readFlags(argv, env).flags);
    const proxy = registryProxy(env);
    const logger = createLogger(config.logLevel);
    const kubeConfig = loadKubeConfig(logger);
    const tls = await autoTls(config, kubeConfig);
    const running = await startWebhook({
      config,
      logger,
      ...kubernetesReaders(config, kubeConfig, logger),
      ...(tls ? { autoTls: tls } : {}),
      defaultMetrics: true,
      ...(proxy ? { proxy } : {}),
    });
    const signal = await nextSignal();
    logger.info({ signal }, 'signal received');
    try {
      await running.stop();
      return 0;
    } catch (err) {
      logger.error({ reason: (err as Error).message }, 'shutdown failed');
      return 70;
    }
  },
};
