/**
 * What the webhook knows about the Secrets and ConfigMaps behind `valueFrom` and `envFrom`.
 *
 * The values are read by a `SourceReader` (k8s/sources.ts) and reduced here, at once, to facts
 * per key: does it hold a reference, and is that reference valid. The values themselves go no
 * further, so nothing downstream can log, return, patch or count them.
 */
import {
  LOGIN_VALUE,
  MalformedReferenceError,
  hasReference,
  parseValue,
} from '../../../init-binary/src/contract/index.ts';
import { WebhookError } from '../errors.ts';

export type SourceKind = 'secret' | 'configmap';

export interface SourceName {
  readonly kind: SourceKind;
  readonly name: string;
}

export interface KeyFact {
  readonly reference: boolean;
  /** The value is `vault:login`: valid only as the value of `VAULT_TOKEN` (checked per env name). */
  readonly login?: boolean;
  /** Why the reference is invalid; for a Secret, never a part of the value. */
  readonly problem?: string;
}

export type SourceFacts =
  | { readonly state: 'read'; readonly keys: ReadonlyMap<string, KeyFact> }
  | { readonly state: 'missing' }
  | { readonly state: 'unreadable'; readonly reason: string };

/** Facts per source, keyed by `sourceKey`. A source absent from the map was not looked at. */
export type SourceIndex = ReadonlyMap<string, SourceFacts>;

export function sourceKey(s: SourceName): string {
  return `${s.kind}/${s.name}`;
}

export function describeSource(s: SourceName): string {
  return `${s.kind === 'secret' ? 'secret' : 'configmap'} "${s.name}"`;
}

/** Reads Secrets and ConfigMaps; a fake in unit tests, @kubernetes/client-node in the webhook. */
export interface SourceReader {
  /**
   * The decoded data of the object, `undefined` when it does not exist. Rejects when it cannot
   * be read: with a WebhookError when the review must be denied (no answer in time), which the
   * caller passes on; with anything else (forbidden), which the caller turns into a warning.
   */
  read(
    namespace: string,
    source: SourceName,
  ): Promise<Readonly<Record<string, string>> | undefined>;
}

function keyFact(kind: SourceKind, value: string): KeyFact {
  if (!hasReference(value)) return { reference: false };
  if (value === LOGIN_VALUE) return { reference: true, login: true };
  try {
    parseValue(value);
    return { reference: true };
  } catch (err) {
    if (!(err instanceof MalformedReferenceError)) throw err;
    // A Secret's value may be a real secret that merely starts with "vault:": say nothing of it.
    const problem =
      kind === 'secret'
        ? 'holds an invalid reference (details withheld: it is a Secret value)'
        : err.message;
    return { reference: true, problem };
  }
}

/** Reduces the data of one source to facts. The only function here that sees values. */
export function summarize(kind: SourceKind, data: Readonly<Record<string, string>>): SourceFacts {
  const keys = new Map<string, KeyFact>();
  for (const [key, value] of Object.entries(data)) keys.set(key, keyFact(kind, value));
  return { state: 'read', keys };
}

/** Reads every source in `names` concurrently and summarizes it; failures become `unreadable`. */
export async function readSources(
  reader: SourceReader,
  namespace: string,
  names: readonly SourceName[],
): Promise<SourceIndex> {
  const entries = await Promise.all(
    names.map(async (s): Promise<[string, SourceFacts]> => {
      try {
        const data = await reader.read(namespace, s);
        return [sourceKey(s), data === undefined ? { state: 'missing' } : summarize(s.kind, data)];
      } catch (err) {
        if (err instanceof WebhookError) throw err; // no answer in time: denies the review
        return [sourceKey(s), { state: 'unreadable', reason: failureReason(err) }];
      }
    }),
  );
  return new Map(entries);
}

/** A short reason for a failed read: an HTTP status or an error code, never a response body. */
function failureReason(err: unknown): string {
  if (typeof err === 'object' && err !== null) {
    const e = err as { code?: unknown; statusCode?: unknown; name?: unknown };
    if (typeof e.code === 'number' || typeof e.statusCode === 'number') {
      return `HTTP ${String(e.code ?? e.statusCode)}`;
    }
    if (typeof e.code === 'string') return e.code;
    if (typeof e.name === 'string') return e.name;
  }
  return 'read failed';
}
