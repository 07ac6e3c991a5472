/**
 * OCI image config lookup for containers without `command`: the public surface of this folder,
 * what the webhook's wiring, the tests and the benches use. See docs/registry.md.
 */
export { ImageConfigLookup } from './image-config-lookup.ts';
export type { ImageLookupOptions, ImageLookupRequest, ImageLookupResult } from './lookup-types.ts';
export type { LookupEvent } from './lookup-events.ts';
export { RegistryError, type RegistryErrorCode } from './errors.ts';
export {
  credentialSourceFromSecret,
  parseDockerConfigJson,
  type CredentialSource,
  type PullSecret,
} from './docker-config.ts';
export { DEFAULT_PLATFORM, formatPlatform, parsePlatform } from './platform.ts';
export { parseImageReference } from './reference.ts';
export {
  registryCommandLookup,
  registryMetricsHook,
  type PullSecretReader,
} from './pod-command.ts';
