/**
 * OCI image config lookup for containers without `command`: the public surface of this folder.
 * See docs/registry.md.
 */
export { ImageConfigLookup } from './image-config-lookup.ts';
export {
  DEFAULT_TAG_TTL_MS,
  DEFAULT_TIMEOUT_MS,
  type CommandRequest,
  type CommandResult,
  type ImageLookupOptions,
  type ImageLookupRequest,
  type ImageLookupResult,
} from './lookup-types.ts';
export type { LookupEvent, LookupLogger } from './lookup-events.ts';
export {
  RegistryError,
  REGISTRY_ERROR_CODES,
  isRegistryError,
  type RegistryErrorCode,
} from './errors.ts';
export {
  credentialSourceFromSecret,
  parseDockerCfg,
  parseDockerConfigJson,
  DockerConfigError,
  DOCKER_CFG_TYPE,
  DOCKER_CONFIG_JSON_TYPE,
  type CredentialSource,
  type CredentialSourceKind,
  type PullSecret,
} from './docker-config.ts';
export {
  DEFAULT_PLATFORM,
  formatPlatform,
  parsePlatform,
  platformForPod,
  type Platform,
  type PodPlacement,
} from './platform.ts';
export { parseImageReference, formatImageReference, type ImageReference } from './reference.ts';
export { effectiveArgsField, effectiveCommand } from './effective-command.ts';
export {
  CredentialProviderConfigError,
  parseCredentialProviderConfig,
  type CredentialProviderSpec,
} from './credential-provider/config.ts';
export {
  CredentialProviderError,
  CredentialProviders,
  type CredentialProvidersOptions,
} from './credential-provider/providers.ts';
export type { ImageConfig } from './parse-manifest.ts';
export type { RegistryHostOptions, RegistryHosts, Transport } from './transport.ts';
export {
  registryCommandLookup,
  registryMetricsHook,
  type PullSecretReader,
  type RegistryCommandLookupOptions,
  type RegistryCounters,
} from './pod-command.ts';
