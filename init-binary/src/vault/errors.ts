/**
 * What a failed Vault call means: an HTTP status (node-vault's ApiResponseError), a network error
 * (our TransportError) or something else; and its translation into the init program's errors.
 */
import {
  ConfigError,
  DeniedError,
  MissingSecretError,
  ProtocolError,
  UnavailableError,
} from '../errors.ts';
import { DeadlineError } from '../retry.ts';
import { Env } from '../contract/names.ts';
import { redact } from './redact.ts';
import { PROXY_REFUSED, TransportError, UnexpectedAnswerError, tlsFailure } from './transport.ts';

/** The HTTP status of a node-vault ApiResponseError, or undefined. */
export function statusOf(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null || !('response' in err)) return undefined;
  const res = (err as { response: unknown }).response;
  if (typeof res !== 'object' || res === null || !('statusCode' in res)) return undefined;
  const code = (res as { statusCode: unknown }).statusCode;
  return typeof code === 'number' ? code : undefined;
}

/**
 * Vault's first error text, cut short, with every credential of the run and anything shaped like
 * one cut out (redact.ts): Vault's own texts name paths and roles, but a server may echo a token.
 */
export function vaultMessage(err: unknown, secrets: Iterable<string> = []): string {
  const status = statusOf(err);
  const body = (err as { response?: { body?: unknown } }).response?.body;
  const errors = (body as { errors?: unknown } | undefined)?.errors;
  const first = Array.isArray(errors) && typeof errors[0] === 'string' ? errors[0] : undefined;
  // Redacted before it is cut, so that no part of a credential survives at the cut.
  const text = first ? redact(first.replace(/\s+/g, ' ').trim(), secrets).slice(0, 200) : '';
  return `${status ?? '?'}${text ? ` ${text}` : ''}`;
}

/** Worth another try: connection errors and 5xx. Never a 4xx (docs/init-program.md). */
export function isRetryable(err: unknown): boolean {
  if (err instanceof TransportError) {
    return err.code !== 'E2BIG' && err.code !== PROXY_REFUSED && !tlsFailure(err.code);
  }
  const status = statusOf(err);
  return status !== undefined && status >= 500;
}

export interface CallContext {
  /** Vault's address, for unavailability messages. */
  readonly addr: string;
  readonly timeoutMs: number;
  /** What we were doing, e.g. "reading secret/data/app" or "logging in at auth/jwt". */
  readonly action: string;
  readonly login?: boolean;
  /** What to check, by the status Vault answered (e.g. 405: a path that takes no write). */
  readonly hints?: Readonly<Record<number, string>>;
  /** Who made the call after a login (LoginResult.identity): named when Vault denies it. */
  readonly identity?: string;
  /** The capability the call needs on the API path it used, for a denial's hint. */
  readonly needs?: { readonly capability: 'read' | 'update'; readonly path: string };
  /** The credentials of the run (token, JWT, role and secret ID): never printed. */
  readonly secrets?: Iterable<string>;
}

/** Translates a failed call (after retries) into exactly one InitError. */
export function translate(err: unknown, ctx: CallContext): Error {
  const last = err instanceof DeadlineError ? err.cause : err;
  if (last instanceof UnexpectedAnswerError) {
    return new ProtocolError(
      `Vault's answer to ${ctx.action} is not JSON (HTTP ${last.statusCode}); check that ${Env.ADDR} names Vault and not a proxy's page`,
      { cause: err },
    );
  }
  if (last instanceof TransportError) return transportFailure(err, last, ctx);
  if (err instanceof DeadlineError) {
    const why =
      statusOf(last) !== undefined ? `last answer ${vaultMessage(last, ctx.secrets)}` : 'no answer';
    return unreachable(err, ctx, why);
  }
  const status = statusOf(err);
  if (status === undefined) {
    return new ProtocolError(`unexpected failure while ${ctx.action}`, { cause: err });
  }
  return statusFailure(err, status, ctx);
}

/** A network-level failure: TLS (a configuration problem, 78) or unreachable (69). */
function transportFailure(err: unknown, last: TransportError, ctx: CallContext): Error {
  const tls = tlsFailure(last.code);
  if (tls === 'certificate') {
    return new ConfigError(
      `Vault at ${ctx.addr} presented a TLS certificate that could not be verified while ${ctx.action} (${last.code}); set ${Env.CACERT} to the CA that signed it`,
      { cause: err },
    );
  }
  if (tls === 'handshake') {
    return new ConfigError(
      `TLS with Vault at ${ctx.addr} failed while ${ctx.action} (${last.code}); check that ${Env.ADDR} names an HTTPS listener`,
      { cause: err },
    );
  }
  // A proxy's failure names the proxy (never its credentials) and what it answered.
  return unreachable(err, ctx, last.code.startsWith('E_PROXY') ? last.message : last.code);
}

function unreachable(err: unknown, ctx: CallContext, why: string): Error {
  return new UnavailableError(
    `Vault at ${ctx.addr} unreachable within ${ctx.timeoutMs / 1000}s while ${ctx.action} (${why})`,
    { cause: err },
  );
}

/** An HTTP status Vault answered (after retries). */
function statusFailure(err: unknown, status: number, ctx: CallContext): Error {
  const message = (): string => vaultMessage(err, ctx.secrets);
  if (status >= 500) {
    return new UnavailableError(`Vault failed while ${ctx.action} (${message()})`, { cause: err });
  }
  if (ctx.login || status === 401 || status === 403) {
    return new DeniedError(`Vault denied ${ctx.action} (${message()})${who(ctx, status)}`, {
      cause: err,
    });
  }
  if (status === 404) {
    return new MissingSecretError(`nothing found while ${ctx.action} (404)`, { cause: err });
  }
  if (status === 429) {
    return new UnavailableError(`Vault at ${ctx.addr} is rate limiting (429) while ${ctx.action}`, {
      cause: err,
    });
  }
  return new ConfigError(`Vault rejected ${ctx.action} (${message()})${hint(ctx, status)}`, {
    cause: err,
  });
}

/**
 * After a login: to whom Vault said no, and what their policies lack, so that the line names the
 * policy to fix; then the call's own hint.
 */
function who(ctx: CallContext, status: number): string {
  const hinted = hint(ctx, status);
  if (ctx.login || ctx.identity === undefined) return hinted;
  const grant = ctx.needs
    ? `; its policies must grant "${ctx.needs.capability}" on ${ctx.needs.path}`
    : '';
  return ` to ${ctx.identity}${grant}${hinted}`;
}

function hint(ctx: CallContext, status: number): string {
  const text = ctx.hints?.[status];
  return text ? `; ${text}` : '';
}
