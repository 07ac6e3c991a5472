/**
 * The one event every lookup ends with, success or not: the `onLookup` hook and one log line
 * (`registry lookup`, or `registry lookup failed` at warn). Never holds a credential: the source
 * of one is named instead.
 */
import { credentialLabel } from './docker-config.ts';
import type { RegistryError, RegistryErrorCode } from './errors.ts';
import type { ImageLookupRequest, Outcome, Prepared } from './lookup-types.ts';
import { formatPlatform, type Platform } from './platform.ts';

/** A pino-compatible logger (only these two methods are used). */
export interface LookupLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/** One per lookup, success or not. Never holds a credential. */
export interface LookupEvent {
  readonly image: string;
  /** Empty when the reference could not be parsed. */
  readonly registry: string;
  readonly digest?: string;
  readonly platform: string;
  /** Answered from the caches without any request. */
  readonly cacheHit: boolean;
  /** Joined a lookup already in flight instead of sending requests. */
  readonly shared: boolean;
  readonly durationMs: number;
  /** `success` or the error code: the `result` label of vault_inject_registry_lookups_total. */
  readonly result: 'success' | RegistryErrorCode;
  /** Requests this lookup sent (0 for a cache hit or a shared lookup). */
  readonly upstreamRequests: number;
  /**
   * The credential that answered (`pod secret team-a/regcred`, `service account secret team-a/sa`,
   * `default`, `anonymous`); after a failure, the last one tried; `none` for an invalid reference.
   */
  readonly credentialSource: string;
  /** Credentials tried with requests (0 for a cache hit); always set by ImageConfigLookup. */
  readonly credentialsTried?: number;
  readonly error?: RegistryError;
}

/** Where events go. */
export interface LookupEventSink {
  readonly logger: LookupLogger | undefined;
  readonly onLookup: ((event: LookupEvent) => void) | undefined;
  /** The platform when neither the request nor the prepared lookup names one. */
  readonly platform: Platform;
}

/** One finished lookup, as far as it got. */
interface FinishedLookup {
  readonly request: ImageLookupRequest;
  readonly prepared: Prepared | undefined;
  /** `performance.now()` when it began. */
  readonly started: number;
  readonly outcome: Outcome | undefined;
  readonly error: RegistryError | undefined;
}

function subjectFields(
  sink: LookupEventSink,
  request: ImageLookupRequest,
  p: Prepared | undefined,
): Pick<LookupEvent, 'registry' | 'platform'> {
  return {
    registry: p?.ref.registry ?? '',
    platform: formatPlatform(p?.platform ?? request.platform ?? sink.platform),
  };
}

/** Which credential answered, or after a failure the last one tried, and how many were. */
function credentialFields(
  p: Prepared | undefined,
  outcome: Outcome | undefined,
): Pick<LookupEvent, 'credentialSource' | 'credentialsTried'> {
  if (p === undefined) return { credentialSource: 'none', credentialsTried: 0 };
  if (outcome !== undefined) {
    return {
      credentialSource: credentialLabel(p.candidates[outcome.winner]),
      credentialsTried: outcome.tried,
    };
  }
  const { tried } = p.attempt;
  const last = p.candidates[Math.max(tried - 1, 0)];
  return { credentialSource: credentialLabel(last), credentialsTried: tried };
}

function outcomeFields(
  outcome: Outcome | undefined,
): Pick<LookupEvent, 'digest' | 'cacheHit' | 'shared' | 'upstreamRequests'> {
  if (outcome === undefined) return { cacheHit: false, shared: false, upstreamRequests: 0 };
  return {
    digest: outcome.resolved.digest,
    cacheHit: outcome.cacheHit,
    shared: outcome.shared,
    upstreamRequests: outcome.upstreamRequests,
  };
}

/** The hook, then the log line. */
export function emitLookupEvent(sink: LookupEventSink, done: FinishedLookup): void {
  const { request, prepared, outcome, error } = done;
  const fields = {
    image: request.image,
    ...subjectFields(sink, request, prepared),
    ...credentialFields(prepared, outcome),
    ...outcomeFields(outcome),
    durationMs: Math.round((performance.now() - done.started) * 100) / 100,
    result: error?.code ?? 'success',
  } satisfies LookupEvent;
  sink.onLookup?.(error !== undefined ? { ...fields, error } : fields);
  if (error === undefined) {
    sink.logger?.info(fields, 'registry lookup');
  } else {
    const err = {
      code: error.code,
      message: error.message,
      ...(error.detail !== undefined ? { detail: error.detail } : {}),
    };
    sink.logger?.warn({ ...fields, err }, 'registry lookup failed');
  }
}
