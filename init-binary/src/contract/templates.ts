/**
 * Templates in a reference's key (`vault:PATH#${.user}:${.password | b64dec}`): the functions, and
 * the value a key selects from a secret's data. The init program renders; the webhook only parses.
 */
import { MissingKeyError, TemplateError } from './errors.ts';
import type { KeySelector } from './references.ts';

/** The documented template functions (docs/references.md). */
export const TEMPLATE_FUNCTIONS = {
  b64enc: (s: string): string => Buffer.from(s, 'utf8').toString('base64'),
  b64dec: (s: string): string => {
    const compact = s.replace(/\s+/g, '');
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(compact) || compact.length % 4 === 1) {
      throw new TemplateError('b64dec: input is not valid base64');
    }
    return Buffer.from(compact, 'base64').toString('utf8');
  },
  upper: (s: string): string => s.toUpperCase(),
  lower: (s: string): string => s.toLowerCase(),
  trim: (s: string): string => s.trim(),
} as const satisfies Record<string, (s: string) => string>;
export type TemplateFunctionName = keyof typeof TEMPLATE_FUNCTIONS;

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
    .map((part) =>
      part.kind === 'text'
        ? part.text
        : part.functions.reduce<string>(
            (acc, fn) => TEMPLATE_FUNCTIONS[fn](acc),
            field(data, part.name, path),
          ),
    )
    .join('');
}

function field(data: Readonly<Record<string, unknown>>, name: string, path: string): string {
  if (!Object.hasOwn(data, name)) throw new MissingKeyError(path, name);
  const v = data[name];
  if (typeof v === 'string') return v;
  if (v === null || v === undefined) return '';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}
