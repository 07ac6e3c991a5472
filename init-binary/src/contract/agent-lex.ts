/**
 * The lexer of Vault Agent templates (agent-template.ts): text and `{{ … }}` actions, with Go's
 * trim markers (`{{- ` and ` -}}` eat the white space beside them) and comments dropped. Pure.
 */
import { TemplateError } from './errors.ts';

export type Token =
  | { readonly t: 'str'; readonly v: string }
  | { readonly t: 'num'; readonly v: number }
  | { readonly t: 'word'; readonly v: string }
  | { readonly t: 'field'; readonly v: string }
  | { readonly t: 'var'; readonly v: string }
  | { readonly t: 'punct'; readonly v: string };

/** One `{{ … }}` action as tokens, or a piece of text. */
export type Piece =
  { readonly text: string } | { readonly tokens: Token[]; readonly source: string };

export function lex(src: string): Piece[] {
  const out: Piece[] = [];
  let at = 0;
  let trimNext = false;
  while (at < src.length) {
    const open = src.indexOf('{{', at);
    let text = src.slice(at, open < 0 ? src.length : open);
    if (trimNext) text = text.replace(/^\s+/, '');
    if (open < 0) {
      out.push({ text });
      break;
    }
    const trimLeft = /^\{\{-\s/.test(src.slice(open, open + 4));
    if (trimLeft) text = text.replace(/\s+$/, '');
    if (text !== '') out.push({ text });
    const inner = actionEnd(src, open + (trimLeft ? 3 : 2));
    const body = src.slice(open + (trimLeft ? 3 : 2), inner.end);
    trimNext = inner.trimRight;
    at = inner.next;
    if (/^\s*\/\*[\s\S]*\*\/\s*$/.test(body)) continue;
    out.push({ tokens: tokenize(body), source: `{{${body.trim()}}}` });
  }
  return out;
}

/** Where the action starting at `from` ends (a `}}` outside any string literal). */
function actionEnd(src: string, from: number): { end: number; next: number; trimRight: boolean } {
  let quote: string | undefined;
  for (let i = from; i < src.length; i++) {
    const c = src[i];
    if (quote !== undefined) {
      if (c === '\\' && quote === '"') i++;
      else if (c === quote) quote = undefined;
    } else if (c === '"' || c === '`') {
      quote = c;
    } else if (c === '}' && src[i + 1] === '}') {
      const trimRight = i >= 2 && src[i - 1] === '-' && /\s/.test(src[i - 2] ?? '');
      return { end: trimRight ? i - 1 : i, next: i + 2, trimRight };
    }
  }
  throw new TemplateError('an action "{{" is never closed with "}}"');
}

const ESCAPES: Readonly<Record<string, string>> = {
  n: '\n',
  t: '\t',
  r: '\r',
  '"': '"',
  '\\': '\\',
};

/** One token of an action, at `lastIndex` (sticky). */
const TOKEN =
  /\s+|"((?:[^"\\]|\\.)*)"|`([^`]*)`|(-?\d+(?:\.\d+)?)|(\$[A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)|((?:\.[A-Za-z0-9_]+)+|\.)|([A-Za-z_][A-Za-z0-9_]*)|(:=|[|(),=])/y;

function tokenize(body: string): Token[] {
  const re = TOKEN;
  const out: Token[] = [];
  let at = 0;
  while (at < body.length) {
    re.lastIndex = at;
    const m = re.exec(body);
    if (m === null) {
      throw new TemplateError(`unsupported construct ${JSON.stringify(body.slice(at, at + 20))}`);
    }
    at = re.lastIndex;
    const [, dq, raw, num, variable, field, word, punct] = m;
    if (dq !== undefined) out.push({ t: 'str', v: unescape(dq) });
    else if (raw !== undefined) out.push({ t: 'str', v: raw });
    else if (num !== undefined) out.push({ t: 'num', v: Number(num) });
    else if (variable !== undefined) out.push({ t: 'var', v: variable });
    else if (field !== undefined) out.push({ t: 'field', v: field });
    else if (word !== undefined) out.push({ t: 'word', v: word });
    else if (punct !== undefined) out.push({ t: 'punct', v: punct });
  }
  return out;
}

function unescape(s: string): string {
  return s.replace(/\\(.)/g, (_, c: string) => {
    const v = ESCAPES[c];
    if (v === undefined) throw new TemplateError(`unsupported escape "\\${c}" in a string`);
    return v;
  });
}
