/**
 * Templates in a reference's key (`vault:PATH#${.user}:${.password | b64dec}`): the expression
 * grammar, the functions, and the value a key selects from a secret's data. The init program
 * renders; the webhook only parses. The functions are the Sprig (and Go template) functions
 * Bank-Vaults templates use most, with their argument order and results: in a pipeline the value
 * comes last, `${.x | replace "a" "b"}` is `replace "a" "b" .x` (docs/references.md).
 */
import { MalformedReferenceError, MissingKeyError, TemplateError } from './errors.ts';
import type { KeySelector } from './references.ts';

interface TemplateFunction {
  /** String arguments written before the value (`replace "a" "b"`: 2). */
  readonly arity: number;
  readonly apply: (value: string, args: readonly string[]) => string;
}

const unary = (apply: (s: string) => string): TemplateFunction => ({ arity: 0, apply });

/** The documented template functions (docs/references.md). */
export const TEMPLATE_FUNCTIONS = {
  b64enc: unary((s) => Buffer.from(s, 'utf8').toString('base64')),
  b64dec: unary((s) => {
    const compact = s.replace(/\s+/g, '');
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(compact) || compact.length % 4 === 1) {
      throw new TemplateError('b64dec: input is not valid base64');
    }
    return Buffer.from(compact, 'base64').toString('utf8');
  }),
  upper: unary((s) => s.toUpperCase()),
  lower: unary((s) => s.toLowerCase()),
  trim: unary((s) => s.trim()),
  // Sprig's `default DEFAULT VALUE`: DEFAULT when VALUE is empty (selectKey: also a missing key).
  default: { arity: 1, apply: (s, [d = '']) => (s === '' ? d : s) },
  quote: unary(goQuote),
  replace: { arity: 2, apply: (s, [from = '', to = '']) => goReplace(s, from, to) },
  title: unary(goTitle),
  trimPrefix: {
    arity: 1,
    apply: (s, [p = '']) => (p !== '' && s.startsWith(p) ? s.slice(p.length) : s),
  },
  trimSuffix: {
    arity: 1,
    apply: (s, [p = '']) => (p !== '' && s.endsWith(p) ? s.slice(0, -p.length) : s),
  },
  urlquery: unary(queryEscape),
  sha256sum: unary((s) =>
    process.getBuiltinModule('node:crypto').createHash('sha256').update(s, 'utf8').digest('hex'),
  ),
} as const satisfies Record<string, TemplateFunction>;
export type TemplateFunctionName = keyof typeof TEMPLATE_FUNCTIONS;

/** One function of a pipeline and the string arguments written before the value. */
export interface TemplateCall {
  readonly name: TemplateFunctionName;
  readonly args: readonly string[];
}

export interface TemplateField {
  readonly kind: 'field';
  readonly name: string;
  readonly functions: readonly TemplateCall[];
}

function isTemplateFunction(name: string): name is TemplateFunctionName {
  return Object.hasOwn(TEMPLATE_FUNCTIONS, name);
}

/**
 * One expression between `${` and `}`: `.KEY`, then `| FN "arg"...` any number of times; or, Go's
 * other spelling of the first call, `FN "arg"... .KEY`. Arguments are Go string literals.
 */
export function parseTemplateExpression(expr: string): TemplateField {
  const commands = splitPipeline(expr);
  const [first = [], ...rest] = commands;
  const fieldWord = first.at(-1) ?? '';
  const m = /^\.([A-Za-z0-9_][A-Za-z0-9_.-]*)$/.exec(fieldWord);
  if (!m?.[1] || (first.length > 1 && !isTemplateFunction(first[0] ?? ''))) {
    throw new MalformedReferenceError(
      `template expression "\${${expr}}" must start with ".KEY" (letters, digits, "_", "-", ".") or "FUNCTION .KEY"`,
    );
  }
  const calls = first.length > 1 ? [first.slice(0, -1)] : [];
  return { kind: 'field', name: m[1], functions: [...calls, ...rest].map(parseCall) };
}

function parseCall(words: readonly string[]): TemplateCall {
  const [name = '', ...args] = words;
  if (!isTemplateFunction(name)) {
    const known = Object.keys(TEMPLATE_FUNCTIONS).join(', ');
    throw new MalformedReferenceError(`unknown template function "${name}" (known: ${known})`);
  }
  const { arity } = TEMPLATE_FUNCTIONS[name];
  if (args.length !== arity) {
    throw new MalformedReferenceError(
      `template function "${name}" takes ${arity} string argument${arity === 1 ? '' : 's'} before the value, not ${args.length}`,
    );
  }
  return { name, args: args.map((a) => stringLiteral(a, name)) };
}

/** The words of each command of a pipeline (split at `|` and spaces outside string literals). */
function splitPipeline(expr: string): string[][] {
  const commands: string[][] = [[]];
  let i = 0;
  while (i < expr.length) {
    const c = expr[i] as string;
    if (/\s/.test(c)) {
      i++;
    } else if (c === '|') {
      commands.push([]);
      i++;
    } else {
      const end = c === '"' || c === '`' ? literalEnd(expr, i) : wordEnd(expr, i);
      commands.at(-1)?.push(expr.slice(i, end));
      i = end;
    }
  }
  return commands;
}

function wordEnd(expr: string, from: number): number {
  let i = from;
  while (i < expr.length && !/[\s|"`]/.test(expr[i] as string)) i++;
  return i;
}

function literalEnd(expr: string, from: number): number {
  const quote = expr[from];
  for (let i = from + 1; i < expr.length; i++) {
    if (quote === '"' && expr[i] === '\\') i++;
    else if (expr[i] === quote) return i + 1;
  }
  throw new MalformedReferenceError(`template string ${expr.slice(from)} has no closing ${quote}`);
}

const ESCAPES: Readonly<Record<string, string>> = {
  a: '\x07',
  b: '\b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
  v: '\v',
  '\\': '\\',
  '"': '"',
};

/** A Go string literal (`"a\tb"` or a raw `` `a\b` ``) as text. */
function stringLiteral(word: string, fn: string): string {
  if (word.length >= 2 && word.startsWith('`') && word.endsWith('`')) return word.slice(1, -1);
  if (!(word.length >= 2 && word.startsWith('"') && word.endsWith('"'))) {
    throw new MalformedReferenceError(
      `template function "${fn}": argument ${word} is not a string literal ("..." or \`...\`)`,
    );
  }
  return word
    .slice(1, -1)
    .replace(/\\(u[0-9A-Fa-f]{4}|U[0-9A-Fa-f]{8}|x[0-7][0-9A-Fa-f]|.)/gs, (all, e: string) => {
      if (/^[uUx]/.test(e)) return String.fromCodePoint(parseInt(e.slice(1), 16));
      const s = ESCAPES[e];
      if (s === undefined) {
        throw new MalformedReferenceError(`template function "${fn}": unknown escape ${all}`);
      }
      return s;
    });
}

/**
 * The value that `key` selects from secret `data` (read at `path`). Non-string values are
 * rendered as JSON, numbers and booleans as text.
 */
export function selectKey(
  key: KeySelector,
  data: Readonly<Record<string, unknown>>,
  path: string,
): string {
  if (key.kind === 'key') return field(data, key.name, path);
  return key.parts
    .map((part) => (part.kind === 'text' ? part.text : render(part, data, path)))
    .join('');
}

function render(
  part: TemplateField,
  data: Readonly<Record<string, unknown>>,
  path: string,
): string {
  const [first, ...rest] = part.functions;
  // As in Sprig, `default` takes the place of a missing key and of an empty value (nil, "", 0,
  // false, an empty list or map); any other function needs the key.
  let value: string;
  if (first?.name === 'default') {
    const raw = data[part.name];
    const empty = !Object.hasOwn(data, part.name) || isEmpty(raw);
    value = empty ? (first.args[0] ?? '') : field(data, part.name, path);
  } else {
    value = field(data, part.name, path);
    if (first) value = TEMPLATE_FUNCTIONS[first.name].apply(value, first.args);
  }
  return rest.reduce((acc, call) => TEMPLATE_FUNCTIONS[call.name].apply(acc, call.args), value);
}

/** Sprig's `empty`. */
function isEmpty(v: unknown): boolean {
  if (v === null || v === undefined || v === '' || v === 0 || v === false) return true;
  if (Array.isArray(v)) return v.length === 0;
  return typeof v === 'object' && Object.keys(v).length === 0;
}

function field(data: Readonly<Record<string, unknown>>, name: string, path: string): string {
  if (!Object.hasOwn(data, name)) throw new MissingKeyError(path, name);
  const v = data[name];
  if (typeof v === 'string') return v;
  if (v === null || v === undefined) return '';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

/** Go's strconv.Quote (Sprig's `quote` of one value): `"` + escaped text + `"`. */
function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const cp = ch.codePointAt(0) as number;
    if (ch === '"' || ch === '\\') out += `\\${ch}`;
    else if (/^[\p{L}\p{M}\p{N}\p{P}\p{S} ]$/u.test(ch)) out += ch;
    else if ('\x07\b\f\n\r\t\v'.includes(ch))
      out += `\\${'abfnrtv'['\x07\b\f\n\r\t\v'.indexOf(ch)]}`;
    else if (cp < 0x80) out += `\\x${cp.toString(16).padStart(2, '0')}`;
    else if (cp < 0x10000) out += `\\u${cp.toString(16).padStart(4, '0')}`;
    else out += `\\U${cp.toString(16).padStart(8, '0')}`;
  }
  return `${out}"`;
}

/** Go's strings.Replace(s, from, to, -1): an empty `from` matches before every character and at the end. */
function goReplace(s: string, from: string, to: string): string {
  if (from !== '') return s.split(from).join(to);
  return `${to}${[...s].join(to)}${s === '' ? '' : to}`;
}

/** Go's strings.Title (Sprig's `title`): the first letter of every word in title case, the rest kept. */
function goTitle(s: string): string {
  let prev = ' ';
  let out = '';
  for (const ch of s) {
    const upper = ch.toUpperCase();
    out += isSeparator(prev) && [...upper].length === 1 ? upper : ch;
    prev = ch;
  }
  return out;
}

function isSeparator(ch: string): boolean {
  if ((ch.codePointAt(0) as number) <= 0x7f) return !/[0-9A-Za-z_]/.test(ch);
  if (/[\p{L}\p{Nd}]/u.test(ch)) return false;
  return /\s/u.test(ch);
}

/** Go's url.QueryEscape (the `urlquery` of Go templates): a space is `+`, `~` kept. */
function queryEscape(s: string): string {
  let encoded: string;
  try {
    encoded = encodeURIComponent(s);
  } catch {
    throw new TemplateError('urlquery: input is not valid text (a lone surrogate)');
  }
  return encoded
    .replace(/[!'()*]/g, (c) => `%${(c.codePointAt(0) as number).toString(16).toUpperCase()}`)
    .replace(/%20/g, '+');
}
