/**
 * Typed failures of an image config lookup. Every error carries a stable `code` (mapped once, at the
 * admission boundary, to a denial or a warning, and used as the `result` label of
 * `vault_inject_registry_lookups_total`) and a message naming the image, the registry and the
 * reason. Never a credential: messages are built from the reference, the host and status lines only.
 */

export const REGISTRY_ERROR_CODES = [
  'invalid_reference',
  'unauthorized',
  'not_found',
  'timeout',
  'aborted',
  'unreachable',
  'rate_limited',
  'protocol',
  'no_matching_platform',
  'no_entrypoint',
  'credential_provider',
] as const;

export type RegistryErrorCode = (typeof REGISTRY_ERROR_CODES)[number];

export interface RegistryErrorDetails {
  /** The image as the pod wrote it. */
  readonly image: string;
  /** The registry host (`docker.io`, `registry.example:5000`); empty when the reference is invalid. */
  readonly registry: string;
  /** What went wrong, in a few words (`HTTP 401 from the token endpoint`). */
  readonly reason: string;
  /**
   * For the webhook's log only, never the message: what a connection failed with (`ECONNREFUSED`,
   * a certificate error). The message, which a denial quotes, does not say what answered.
   */
  readonly detail?: string;
}

const SUMMARY: Record<RegistryErrorCode, string> = {
  invalid_reference: 'invalid image reference',
  unauthorized: 'not authorized',
  not_found: 'not found',
  timeout: 'timed out',
  aborted: 'aborted',
  unreachable: 'registry unreachable',
  rate_limited: 'rate limited by the registry',
  protocol: 'unexpected registry response',
  no_matching_platform: 'no manifest for the platform',
  no_entrypoint: 'image has neither ENTRYPOINT nor CMD',
  credential_provider: 'no credentials from the credential provider',
};

export class RegistryError extends Error {
  readonly code: RegistryErrorCode;
  readonly image: string;
  readonly registry: string;
  readonly reason: string;
  /** See RegistryErrorDetails.detail: logged, never in the message. */
  readonly detail: string | undefined;

  constructor(code: RegistryErrorCode, details: RegistryErrorDetails, options?: ErrorOptions) {
    const where = details.registry ? ` (registry ${details.registry})` : '';
    super(`image "${details.image}"${where}: ${SUMMARY[code]}: ${details.reason}`, options);
    this.name = 'RegistryError';
    this.code = code;
    this.image = details.image;
    this.registry = details.registry;
    this.reason = details.reason;
    this.detail = details.detail;
  }
}
