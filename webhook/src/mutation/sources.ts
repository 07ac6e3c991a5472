/**
 * What the webhook knows about the Secrets and ConfigMaps behind `valueFrom` and `envFrom`.
 *
 * The values are read by a `SourceReader` (k8s/sources.ts) and reduced here, at once, to facts
 * per key: does it hold a reference, and is that reference valid. The values themselves go no
 * further, so nothing downstream can log, return, patch or count them; the one exception is a key
 * that may set one of the init program's settings the webhook polices (`VAULT_ADDR`, ...), whose
 * value is kept to be checked (own-env.ts) and is never echoed when it comes from a Secret.
 */
import {
  LOGIN_VALUE,
  MalformedReferenceError,
  TooManyReferencesError,
  hasReference,
  parseValue,
  referencesOf,
} from '../../../init-binary/src/contract/index.ts';
import { Slicer, tooManyInValue } from './bounds.ts';
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
  /** The value, kept only for a key that may set a policed init setting (own-env.ts). */
  readonly value?: string;
  /** How many references the value holds (bounds.ts), when it holds any. */
  readonly references?: number;
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
  if (value === LOGIN_VALUE) return { reference: true, login: true, references: 1 };
  try {
    // The parser stops at the first reference over the bound (MAX_REFERENCES_PER_VALUE).
    return { reference: true, references: referencesOf(parseValue(value)).length };
  } catch (err) {
    if (err instanceof TooManyReferencesError)
      return { reference: true, problem: tooManyInValue() };
    if (!(err instanceof MalformedReferenceError)) throw err;
    // A Secret's value may be a real secret that merely starts with "vault:": say nothing of it.
    const problem =
      kind === 'secret'
        ? 'holds an invalid reference (details withheld: it is a Secret value)'
        : err.message;
    return { reference: true, problem };
  }
}

/** Keys whose value is kept, by `sourceKey`: those that may set a policed init setting. */
export type KeptKeys = ReadonlyMap<string, ReadonlySet<string>>;

/**
 * Reduces the data of one source to facts, keeping the values of the keys in `keep`. The only
 * function here that sees values.
 */
export async function summarize(
  kind: SourceKind,
  data: Readonly<Record<string, string>>,
  keep: ReadonlySet<string> = new Set(),
  slicer: Slicer = new Slicer(),
): Promise<SourceFacts> {
  const keys = new Map<string, KeyFact>();
  for (const [key, value] of Object.entries(data)) {
    await slicer.tick();
    const fact = keyFact(kind, value);
    keys.set(key, keep.has(key) ? { ...fact, value } : fact);
  }
  return { state: 'read', keys };
}

export interface ReadOptions {
  /** Keys whose value is kept (policed settings). */
  readonly keep?: KeptKeys;
  /** The review's; summarizing stops when it aborts. */
  readonly signal?: AbortSignal;
}

/** Reads every source in `names` concurrently and summarizes it; failures become `unreadable`. */
export async function readSources(
  reader: SourceReader,
  namespace: string,
  names: readonly SourceName[],
  { keep = new Map(), signal }: ReadOptions = {},
): Promise<SourceIndex> {
  const slicer = new Slicer(signal);
  const entries = await Promise.all(
    names.map(async (s): Promise<[string, SourceFacts]> => {
      const key = sourceKey(s);
      let data: Readonly<Record<string, string>> | undefined;
      try {
        data = await reader.read(namespace, s);
      } catch (err) {
        if (err instanceof WebhookError) throw err; // no answer in time: denies the review
        return [key, { state: 'unreadable', reason: failureReason(err) }];
      }
      if (data === undefined) return [key, { state: 'missing' }];
      return [key, await summarize(s.kind, data, keep.get(key), slicer)];
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
