/**
 * The webhook's registry lookup, built from its configuration (`--registry-*`, docs/registry.md):
 * reads the CA bundles and the default docker config once, at start, and wires the OCI lookup to
 * the pull secret reader, the log and the metrics. Files are named in errors, never quoted.
 */
import { constants } from 'node:fs';
import { access, readFile } from 'node:fs/promises';
import path from 'node:path';
import { proxyConfigFromEnv, type ProxyConfig } from '../../../init-binary/src/contract/index.ts';
import type { RegistryConfig } from '../config.ts';
import { ErrorCode, WebhookError } from '../errors.ts';
import type { ImageCommandLookup } from './image-command.ts';
import { parseDockerConfigJson, type CredentialSource } from './oci/docker-config.ts';
import { parseCredentialProviderConfig } from './oci/credential-provider/config.ts';
import { CredentialProviders } from './oci/credential-provider/providers.ts';
import { ImageConfigLookup } from './oci/image-config-lookup.ts';
import type { LookupLogger } from './oci/lookup-events.ts';
import { parsePlatform } from './oci/platform.ts';
import { normaliseRegistryHost } from './oci/reference.ts';
import {
  registryCommandLookup,
  registryMetricsHook,
  type PullSecretReader,
  type RegistryCounters,
} from './oci/pod-command.ts';
import type { RegistryHostOptions, RegistryHosts, Transport } from './oci/transport.ts';

export interface RegistryLookup {
  /** What the pipeline calls for a container without `command`. */
  readonly images: ImageCommandLookup;
  /** The OCI lookup underneath (caches, connections). */
  readonly lookup: ImageConfigLookup;
  /** Close idle registry connections (Fastify `onClose`). */
  close(): void;
}

export interface RegistryLookupDeps {
  readonly secrets?: PullSecretReader;
  readonly logger?: LookupLogger;
  readonly metrics?: RegistryCounters;
  /** For tests: the HTTP layer. */
  readonly transport?: Transport;
  /** HTTPS_PROXY, HTTP_PROXY and NO_PROXY (registryProxy). */
  readonly proxy?: ProxyConfig;
}

/** The proxy variables of the webhook's environment (docs/registry.md, "Proxies"). */
export function registryProxy(
  env: Readonly<Record<string, string | undefined>>,
): ProxyConfig | undefined {
  try {
    return proxyConfigFromEnv(env);
  } catch (cause) {
    // The message names the variable, never its value (it may hold the proxy's password).
    throw configError((cause as Error).message, cause);
  }
}

function configError(message: string, cause?: unknown): WebhookError {
  return new WebhookError(ErrorCode.CONFIG, message, cause === undefined ? {} : { cause });
}

async function readFlagFile(flag: string, file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (cause) {
    const code = (cause as { code?: string }).code ?? 'unreadable';
    throw configError(`--${flag}: cannot read ${file} (${code})`, cause);
  }
}

async function hostsOf(config: RegistryConfig): Promise<RegistryHosts> {
  const hosts: Record<string, RegistryHostOptions> = {};
  const set = (host: string, options: RegistryHostOptions): void => {
    const key = normaliseRegistryHost(host);
    hosts[key] = { ...hosts[key], ...options };
  };
  for (const { host, file } of config.caFiles) {
    const ca = await readFlagFile('registry-ca', file);
    if (!ca.includes('-----BEGIN CERTIFICATE-----')) {
      throw configError(`--registry-ca: ${file} holds no PEM certificate`);
    }
    const before = hosts[normaliseRegistryHost(host)]?.ca;
    set(host, { ca: before === undefined ? ca : `${before}\n${ca}` });
  }
  for (const host of config.insecureSkipVerify) set(host, { insecureSkipVerify: true });
  for (const host of config.plainHttp) set(host, { plainHttp: true });
  return hosts;
}

async function defaultCredentials(config: RegistryConfig): Promise<CredentialSource[]> {
  const file = config.defaultDockerConfigFile;
  if (file === '') return [];
  const text = await readFlagFile('registry-default-docker-config', file);
  try {
    const source = parseDockerConfigJson(`default docker config ${file}`, text);
    return [{ ...source, kind: 'default' }];
  } catch (cause) {
    // DockerConfigError names the file and an entry's key, never a value.
    throw configError(`--registry-default-docker-config: ${(cause as Error).message}`, cause);
  }
}

/** The plugins of --registry-credential-provider-config, checked at start like kubelet does. */
async function credentialProviders(
  config: RegistryConfig,
): Promise<CredentialProviders | undefined> {
  const file = config.credentialProviderConfigFile;
  if (file === '') return undefined;
  const text = await readFlagFile('registry-credential-provider-config', file);
  let providers;
  try {
    providers = parseCredentialProviderConfig(file, text);
  } catch (cause) {
    throw configError(`--registry-credential-provider-config: ${(cause as Error).message}`, cause);
  }
  const binDir = config.credentialProviderBinDir;
  for (const { name } of providers) {
    try {
      await access(path.join(binDir, name), constants.X_OK);
    } catch (cause) {
      const code = (cause as { code?: string }).code ?? 'unusable';
      const reason = `plugin "${name}" is not an executable in ${binDir} (${code})`;
      throw configError(`--registry-credential-provider-bin-dir: ${reason}`, cause);
    }
  }
  return new CredentialProviders({ providers, binDir, timeoutMs: config.timeoutMs });
}

export async function createRegistryLookup(
  config: RegistryConfig,
  deps: RegistryLookupDeps = {},
): Promise<RegistryLookup> {
  const platform = parsePlatform(config.platform);
  const options: ConstructorParameters<typeof ImageConfigLookup>[0] = {
    timeoutMs: config.timeoutMs,
    platform,
    tagTtlMs: config.tagTtlMs,
    hosts: await hostsOf(config),
    tokenRealmSameHost: config.tokenRealmSameHost,
    defaultCredentials: await defaultCredentials(config),
    credentialProviders: await credentialProviders(config),
    ...(deps.logger ? { logger: deps.logger } : {}),
    ...(deps.metrics ? { onLookup: registryMetricsHook(deps.metrics) } : {}),
    ...(deps.transport ? { transport: deps.transport } : {}),
    ...(deps.proxy ? { proxy: deps.proxy } : {}),
  };
  const lookup = new ImageConfigLookup(options);
  // Made on the first pod that may skip verification (registry-skip-verify): its own transport
  // and caches, never shared with the verified lookups.
  let insecure: ImageConfigLookup | undefined;
  const insecureLookup = (): ImageConfigLookup =>
    (insecure ??= new ImageConfigLookup({ ...options, skipVerify: true }));
  return {
    images: registryCommandLookup({
      lookup,
      platform,
      insecureLookup,
      ...(deps.secrets ? { secrets: deps.secrets } : {}),
    }),
    lookup,
    close: () => {
      lookup.close();
      insecure?.close();
    },
  };
}
