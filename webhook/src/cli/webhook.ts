/**
 * `vault-inject webhook`: the admission server (HTTPS) and the telemetry server (HTTP).
 *
 * Startup: telemetry listens at once (`/healthz` 503 until a certificate is loaded); the HTTPS
 * listener opens after the first certificate (from files, `--tls-auto`'s Secret, or self-signed). Shutdown (`stop()`, called on SIGTERM): `/readyz`
 * fails, then after `shutdownDelayMs` (time for the endpoints to drop this pod) the HTTPS
 * listener closes, in-flight reviews finish, idle keep-alive connections close, and it resolves.
 */
import type { Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import pino, { type Logger } from 'pino';
import { buildAdmissionApp, buildTelemetryApp } from '../app.ts';
import type { Config } from '../config.ts';
import { createMetrics } from '../metrics.ts';
import type { SourceReader } from '../mutation/sources.ts';
import type { ImageCommandLookup } from '../registry/image-command.ts';
import type { PullSecretReader } from '../registry/oci/pod-command.ts';
import { createRegistryLookup } from '../registry/setup.ts';
import {
  selfSignedKeyPair,
  watchKeyPair,
  type CertificateWatcher,
  type KeyPair,
} from '../tls/certificates.ts';
import { serviceDnsNames } from '../tls/authority.ts';
import type { CertificateObjects } from '../tls/auto/kube.ts';
import { startAutoCertificates, type AutoCertificates } from '../tls/auto/manager.ts';
import { ErrorCode, WebhookError } from '../errors.ts';

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
  const logger = options.logger ?? pino({ level: config.logLevel });
  const metrics = createMetrics({ defaultMetrics: options.defaultMetrics ?? false });
  // First, so a bad --registry-* file stops the program before anything listens.
  const registry = options.images
    ? undefined
    : await createRegistryLookup(config.registry, {
        logger,
        metrics,
        ...(options.secrets ? { secrets: options.secrets } : {}),
      });
  let loaded: KeyPair | undefined;
  let shuttingDown = false;
  // Set once the HTTPS listener exists; later certificates are swapped into its secure context.
  const live: { server?: HttpsServer } = {};

  const telemetry = buildTelemetryApp({
    registry: metrics.registry,
    state: { certificateLoaded: () => loaded !== undefined, shuttingDown: () => shuttingDown },
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
    deps: {
      config: config.injection,
      ...(options.sources ? { sources: options.sources } : {}),
      images: options.images ?? (registry as NonNullable<typeof registry>).images,
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
