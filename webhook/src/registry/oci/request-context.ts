/**
 * What every registry request of one lookup shares (its reference, credential, signal and request
 * count), the request shape the client sends, and how a failed request becomes a RegistryError.
 * Messages name the host, the status and the credential's source, never a credential.
 */
import { credentialPhrase, type FoundCredential } from './docker-config.ts';
import { RegistryError, type RegistryErrorCode } from './errors.ts';
import type { ImageReference } from './reference.ts';
import { BodyTooLargeError, type HttpResponse } from './transport.ts';

/** One lookup's state, shared by every request it makes. */
export interface LookupContext {
  readonly ref: ImageReference;
  readonly credential: FoundCredential | undefined;
  readonly signal: AbortSignal;
  readonly timeoutMs: number;
  /** Requests sent for this lookup (token requests and redirects included). */
  upstreamRequests: number;
}

/** A request as the client sends it (redirects followed, the Authorization dropped off-origin). */
export interface SendRequest {
  readonly method: 'GET' | 'HEAD' | 'POST';
  readonly url: URL;
  readonly accept: string;
  readonly authorization: string | undefined;
  readonly maxBytes: number;
  readonly body?: string;
  readonly contentType?: string;
  /** A registry whose CA bundle also applies to this host (a token realm). */
  readonly caFrom?: string;
}

/** Sends one request for a lookup (the client's, handed to the auth units). */
export type Send = (ctx: LookupContext, request: SendRequest) => Promise<HttpResponse>;

export function fail(
  ctx: LookupContext,
  code: RegistryErrorCode,
  reason: string,
  cause?: unknown,
): never {
  throw new RegistryError(
    code,
    { image: ctx.ref.original, registry: ctx.ref.registry, reason },
    cause === undefined ? undefined : { cause },
  );
}

/** `MANIFEST_UNKNOWN: manifest unknown` from a distribution error body, if there is one. */
function registryErrorText(body: Buffer): string {
  try {
    const parsed = JSON.parse(body.toString('utf8')) as {
      errors?: { code?: unknown; message?: unknown }[];
    };
    const first = parsed.errors?.[0];
    if (first === undefined) return '';
    const text = [first.code, first.message].filter((p) => typeof p === 'string').join(': ');
    return text ? ` (${text.slice(0, 200)})` : '';
  } catch {
    return '';
  }
}

export function statusFailure(ctx: LookupContext, what: string, response: HttpResponse): never {
  const detail = `${what}: HTTP ${response.status}${registryErrorText(response.body)}`;
  if (response.status === 401 || response.status === 403)
    fail(ctx, 'unauthorized', `${detail} with ${credentialPhrase(ctx.credential)}`);
  if (response.status === 404) fail(ctx, 'not_found', detail);
  if (response.status === 429) fail(ctx, 'rate_limited', detail);
  if (response.status >= 500) fail(ctx, 'unreachable', detail);
  fail(ctx, 'protocol', detail);
}

export function networkFailure(ctx: LookupContext, url: URL, error: unknown): never {
  if (ctx.signal.aborted) {
    const reason: unknown = ctx.signal.reason;
    if (reason instanceof Error && reason.name === 'TimeoutError') {
      fail(ctx, 'timeout', `no answer from ${url.host} within ${ctx.timeoutMs} ms`, error);
    }
    fail(ctx, 'aborted', `lookup abandoned while waiting for ${url.host}`, error);
  }
  if (error instanceof BodyTooLargeError)
    fail(ctx, 'protocol', `${url.host}: ${error.message}`, error);
  // Refused, reset, a TLS handshake with something that is not a registry, a certificate error, a
  // name that does not resolve: one reason for all, so a pod's image cannot probe what listens on
  // a host and port. What it was goes to the webhook's log (`detail`).
  throw new RegistryError(
    'unreachable',
    {
      image: ctx.ref.original,
      registry: ctx.ref.registry,
      reason: unreachableReason(url),
      detail: connectionDetail(error),
    },
    { cause: error },
  );
}

/**
 * Over HTTPS, the same hint for every failure (a plain-HTTP registry answers a TLS handshake with
 * garbage, but saying so would tell a pod what listens on the port).
 */
function unreachableReason(url: URL): string {
  if (url.protocol === 'http:') return `no registry answered at ${url.host} over plain HTTP`;
  return (
    `no registry answered at ${url.host} over HTTPS; ` +
    `if it serves plain HTTP, list it in --registry-plain-http`
  );
}

/** `ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:9`, for the log. */
function connectionDetail(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  // Node appends advice about --use-system-ca to certificate errors: not ours to give.
  const message =
    (error instanceof Error ? error.message : String(error)).split('; if the root CA')[0] ?? '';
  return typeof code === 'string' && !message.includes(code) ? `${code}: ${message}` : message;
}
