/**
 * The reference grammar (docs/references.md): parse and detect. Pure; imported by the webhook for
 * detection and validation, and by the init program for resolution. Nothing here ever sees a
 * secret value (templates.ts's `selectKey` renders them, and never puts one in an error).
 *
 *   value      := whole | inline | plain
 *   whole      := ref                              (the value starts with `vault:` or `>>vault:`)
 *   inline     := (text | '${' ref '}')*           (at least one `${vault:` or `${>>vault:`)
 *   ref        := 'vault:' PATH '#' key ('#' VERSION)?
 *               | '>>vault:' PATH '#' key ('#' JSON-OBJECT)?
 *               | 'vault:v' DIGITS ':' CIPHERTEXT   (transit)
 *               | 'vault:login'                    (only as the whole value of VAULT_TOKEN)
 *   key        := NAME | template
 *   template   := (text | '${' expression '}')+   (templates.ts: `.NAME | FUNCTION "arg"...`)
 */
import { MalformedReferenceError } from './errors.ts';
import { countReference, type ReferenceLimits } from './limits.ts';
import { parseTemplateExpression, type TemplateField } from './templates.ts';
import { pathProblem, trimSlashes, versionProblem } from './paths.ts';

export const READ_PREFIX = 'vault:';
export const WRITE_PREFIX = '>>vault:';
const INLINE_READ = '${vault:';
const INLINE_WRITE = '${>>vault:';
export const LOGIN_VALUE = 'vault:login';
const TOKEN_VARIABLE = 'VAULT_TOKEN';

export interface TemplateText {
  readonly kind: 'text';
  readonly text: string;
}
export type TemplatePart = TemplateField | TemplateText;

export type KeySelector =
  | { readonly kind: 'key'; readonly name: string }
  | { readonly kind: 'template'; readonly source: string; readonly parts: readonly TemplatePart[] };

export type SecretRef =
  | {
      readonly kind: 'read';
      readonly path: string;
      readonly key: KeySelector;
      readonly version?: number;
    }
  | {
      readonly kind: 'write';
      readonly path: string;
      readonly key: KeySelector;
      readonly body: Readonly<Record<string, unknown>>;
    }
  | { readonly kind: 'transit'; readonly ciphertext: string }
  | { readonly kind: 'login' };

export type InlinePart =
  | { readonly kind: 'text'; readonly text: string }
  | { readonly kind: 'ref'; readonly ref: SecretRef };

export type ParsedValue =
  | { readonly kind: 'plain' }
  | { readonly kind: 'whole'; readonly ref: SecretRef }
  | { readonly kind: 'inline'; readonly parts: readonly InlinePart[] };

/** Cheap test: could this value hold a reference? (No parsing, no allocation.) */
export function hasReference(value: string): boolean {
  return (
    value.startsWith(READ_PREFIX) ||
    value.startsWith(WRITE_PREFIX) ||
    value.includes(INLINE_READ) ||
    value.includes(INLINE_WRITE)
  );
}

/**
 * Parses the value of environment variable `name`. Throws `MalformedReferenceError` for a malformed
 * reference; returns `{kind: 'plain'}` for a value that holds none.
 */
export function parseEnvValue(
  name: string,
  value: string,
  limits: ReferenceLimits = {},
): ParsedValue {
  if (value === LOGIN_VALUE) {
    if (name !== TOKEN_VARIABLE) {
      throw new MalformedReferenceError(
        `"${LOGIN_VALUE}" is only valid as the value of ${TOKEN_VARIABLE}`,
      );
    }
    countReference(1, limits);
    return { kind: 'whole', ref: { kind: 'login' } };
  }
  return parseValue(value, limits);
}

/**
 * Parses a value that is not VAULT_TOKEN's (so `vault:login` is not special), in time linear in its
 * length. Throws `TooManyReferencesError` as soon as the value passes `limits.maxPerValue`
 * references (MAX_REFERENCES_PER_VALUE by default) or `limits.budget` runs out.
 */
export function parseValue(value: string, limits: ReferenceLimits = {}): ParsedValue {
  if (value.startsWith(READ_PREFIX) || value.startsWith(WRITE_PREFIX)) {
    countReference(1, limits);
    return { kind: 'whole', ref: parseRef(value) };
  }
  if (value.includes(INLINE_READ) || value.includes(INLINE_WRITE)) {
    return { kind: 'inline', parts: parseInline(value, limits) };
  }
  return { kind: 'plain' };
}

/** The references of a parsed value, in order of appearance. */
export function referencesOf(parsed: ParsedValue): SecretRef[] {
  switch (parsed.kind) {
    case 'plain':
      return [];
    case 'whole':
      return [parsed.ref];
    case 'inline':
      return parsed.parts.flatMap((p) => (p.kind === 'ref' ? [p.ref] : []));
  }
}

/** A short, value-free description of a reference for messages and logs. */
export function describeRef(ref: SecretRef): string {
  switch (ref.kind) {
    case 'login':
      return LOGIN_VALUE;
    case 'transit':
      return 'transit ciphertext';
    case 'read':
      return `vault:${ref.path}#${keyLabel(ref.key)}${ref.version === undefined ? '' : `#${ref.version}`}`;
    case 'write':
      return `>>vault:${ref.path}#${keyLabel(ref.key)}`;
  }
}

function keyLabel(key: KeySelector): string {
  return key.kind === 'key' ? key.name : key.source;
}

function parseRef(ref: string): SecretRef {
  if (ref === LOGIN_VALUE) {
    throw new MalformedReferenceError(
      `"${LOGIN_VALUE}" is only valid as the whole value of VAULT_TOKEN`,
    );
  }
  const transit = /^vault:v\d+:/.exec(ref);
  if (transit) {
    const body = ref.slice(transit[0].length);
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(body)) {
      throw new MalformedReferenceError(
        'transit ciphertext after "vault:vN:" must be non-empty base64',
      );
    }
    return { kind: 'transit', ciphertext: ref };
  }
  const write = ref.startsWith(WRITE_PREFIX);
  const rest = ref.slice(write ? WRITE_PREFIX.length : READ_PREFIX.length);
  const hash = rest.indexOf('#');
  if (hash < 0) {
    throw new MalformedReferenceError('missing "#KEY" after the path');
  }
  const path = parsePath(rest.slice(0, hash));
  const afterPath = rest.slice(hash + 1);
  const keyEnd = keyEndIndex(afterPath);
  const key = parseKey(afterPath.slice(0, keyEnd));
  const tail = keyEnd < afterPath.length ? afterPath.slice(keyEnd + 1) : undefined;
  if (write) {
    return { kind: 'write', path, key, body: tail === undefined ? {} : parseBody(tail) };
  }
  if (tail === undefined) return { kind: 'read', path, key };
  return { kind: 'read', path, key, version: parseVersion(tail) };
}

/** The end of the key: the next `#` outside a `${...}` template expression. */
function keyEndIndex(s: string): number {
  let depth = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '$' && s[i + 1] === '{') {
      depth++;
      i++;
    } else if (c === '}' && depth > 0) {
      depth--;
    } else if (c === '#' && depth === 0) {
      return i;
    }
  }
  return s.length;
}

function parsePath(raw: string): string {
  const path = trimSlashes(raw);
  const problem = pathProblem(path);
  if (problem === undefined) return path;
  throw new MalformedReferenceError(
    path === '' ? `the path ${problem}` : `the path "${raw}" ${problem}`,
  );
}

function parseKey(raw: string): KeySelector {
  if (raw.includes('${')) return { kind: 'template', source: raw, parts: parseTemplate(raw) };
  if (raw === '') throw new MalformedReferenceError('the key after "#" is empty');
  if (/[\s{}$]/.test(raw)) {
    throw new MalformedReferenceError(`the key "${raw}" holds a space, "$", "{" or "}"`);
  }
  return { kind: 'key', name: raw };
}

function parseTemplate(source: string): TemplatePart[] {
  const parts: TemplatePart[] = [];
  let i = 0;
  while (i < source.length) {
    const open = source.indexOf('${', i);
    if (open < 0) {
      parts.push({ kind: 'text', text: source.slice(i) });
      break;
    }
    if (open > i) parts.push({ kind: 'text', text: source.slice(i, open) });
    const close = source.indexOf('}', open + 2);
    if (close < 0) throw new MalformedReferenceError('template "${" has no closing "}"');
    parts.push(parseTemplateExpression(source.slice(open + 2, close)));
    i = close + 1;
  }
  return parts;
}

function parseVersion(raw: string): number {
  const problem = versionProblem(raw);
  if (problem !== undefined) {
    throw new MalformedReferenceError(`the version "${raw}" ${problem}`);
  }
  return Number(raw);
}

function parseBody(raw: string): Record<string, unknown> {
  let body: unknown;
  try {
    body = JSON.parse(raw);
  } catch (cause) {
    throw new MalformedReferenceError('the write body after the second "#" is not valid JSON', {
      cause,
    });
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new MalformedReferenceError('the write body after the second "#" must be a JSON object');
  }
  return body as Record<string, unknown>;
}

function parseInline(value: string, limits: ReferenceLimits): InlinePart[] {
  const parts: InlinePart[] = [];
  const next = inlineStarts(value);
  let i = 0;
  let count = 0;
  while (i < value.length) {
    const open = next(i);
    if (open < 0) {
      parts.push({ kind: 'text', text: value.slice(i) });
      break;
    }
    countReference(++count, limits);
    if (open > i) parts.push({ kind: 'text', text: value.slice(i, open) });
    const close = matchingBrace(value, open + 1);
    parts.push({ kind: 'ref', ref: parseRef(value.slice(open + 2, close)) });
    i = close + 1;
  }
  return parts;
}

/**
 * The start of the next `${vault:` or `${>>vault:` at or after a position that only grows: each
 * kind is searched again only once the position has passed its last match, so every character
 * is scanned at most once per kind (searching both from every position made a value with many
 * references of one kind quadratic: the other kind's search ran to the end each time).
 */
function inlineStarts(value: string): (from: number) => number {
  let read = -2;
  let write = -2;
  return (from) => {
    if (read !== -1 && read < from) read = value.indexOf(INLINE_READ, from);
    if (write !== -1 && write < from) write = value.indexOf(INLINE_WRITE, from);
    if (read < 0) return write;
    if (write < 0) return read;
    return Math.min(read, write);
  };
}

/** Index of the `}` closing the `{` at `open`, skipping JSON strings and nested braces. */
function matchingBrace(value: string, open: number): number {
  let depth = 0;
  let inString = false;
  for (let i = open; i < value.length; i++) {
    const c = value[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') {
      inString = true;
    } else if (c === '{') {
      depth++;
    } else if (c === '}' && --depth === 0) {
      return i;
    }
  }
  throw new MalformedReferenceError('inline reference "${" has no closing "}"');
}
