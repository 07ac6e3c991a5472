/**
 * The webhook's error catalogue. Every error it raises carries a stable `code` (for logs, metrics
 * and tests) and keeps its `cause`. Errors are translated exactly once, at a boundary: the
 * admission response (`allowed: false`), an HTTP status, or the CLI's exit code.
 *
 * Messages name the container, variable and annotation involved; they never hold a secret value.
 */
export const ErrorCode = {
  /** The request body is not a well-formed AdmissionReview (HTTP 400). */
  BAD_REVIEW: 'E_BAD_REVIEW',
  /** A reference in an env value cannot be parsed (denied). */
  REFERENCE: 'E_REFERENCE',
  /** An annotation holds a value we cannot accept (denied). */
  ANNOTATION: 'E_ANNOTATION',
  /** The `vault-addr` annotation is not in the webhook's allowlist (denied). */
  ADDR_NOT_ALLOWED: 'E_ADDR_NOT_ALLOWED',
  /** A container to inject has no `command` and its image's entrypoint cannot be looked up. */
  NO_COMMAND: 'E_NO_COMMAND',
  /**
   * The pod already holds a volume, init container or mount path under one of the webhook's names
   * that the webhook did not write (denied).
   */
  NAME_CONFLICT: 'E_NAME_CONFLICT',
  /** A container already runs Bank-Vaults' vault-env: both webhooks select the pod (denied). */
  BANK_VAULTS: 'E_BANK_VAULTS',
  /** The review did not finish within the webhook's deadline (denied). */
  DEADLINE: 'E_DEADLINE',
  /**
   * A Secret, ConfigMap or service account the review needs got no answer from the Kubernetes
   * API in time, after a retry (denied, whatever --registry-failure-policy says).
   */
  KUBERNETES_READ: 'E_KUBERNETES_READ',
  /** A flag or environment variable of the webhook itself is invalid (exit code 2). */
  CONFIG: 'E_CONFIG',
  /** A TLS certificate or key could not be loaded. */
  TLS: 'E_TLS',
} as const;
export type ErrorCodeValue = (typeof ErrorCode)[keyof typeof ErrorCode];

export class WebhookError extends Error {
  readonly code: ErrorCodeValue;
  constructor(code: ErrorCodeValue, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'WebhookError';
    this.code = code;
  }
}

export function isWebhookError(err: unknown): err is WebhookError {
  return err instanceof WebhookError;
}
