/**
 * `WWW-Authenticate` challenges (RFC 7235) as registries send them:
 *   Bearer realm="https://auth.example/token",service="registry.example",scope="repository:app:pull"
 *   Basic realm="Registry Realm"
 * A header may hold several challenges; parameters may be quoted (with `\` escapes) or tokens.
 */

export interface Challenge {
  /** Lowercase: `bearer`, `basic`. */
  readonly scheme: string;
  /** Parameter names lowercase. */
  readonly params: Readonly<Record<string, string>>;
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+/;

class Cursor {
  position = 0;
  readonly text: string;
  constructor(text: string) {
    this.text = text;
  }
  skipSpaces(): void {
    while (this.position < this.text.length && /\s/.test(this.text[this.position] ?? '')) {
      this.position += 1;
    }
  }
  peek(): string | undefined {
    return this.text[this.position];
  }
  token(): string | undefined {
    const match = TOKEN.exec(this.text.slice(this.position));
    if (!match) return undefined;
    this.position += match[0].length;
    return match[0];
  }
  quoted(): string {
    let value = '';
    this.position += 1; // opening quote
    while (this.position < this.text.length) {
      const char = this.text[this.position] ?? '';
      this.position += 1;
      if (char === '"') return value;
      if (char === '\\') {
        value += this.text[this.position] ?? '';
        this.position += 1;
      } else {
        value += char;
      }
    }
    return value; // unterminated: take what is there
  }
}

/** Try to read `name=value`; leaves the cursor untouched and returns undefined when it is not one. */
function readParam(cursor: Cursor): [string, string] | undefined {
  const start = cursor.position;
  const name = cursor.token();
  cursor.skipSpaces();
  if (name === undefined || cursor.peek() !== '=') {
    cursor.position = start;
    return undefined;
  }
  cursor.position += 1;
  cursor.skipSpaces();
  const value = cursor.peek() === '"' ? cursor.quoted() : (cursor.token() ?? '');
  return [name.toLowerCase(), value];
}

export function parseChallenges(header: string): Challenge[] {
  const cursor = new Cursor(header);
  const challenges: { scheme: string; params: Record<string, string> }[] = [];
  for (;;) {
    cursor.skipSpaces();
    while (cursor.peek() === ',') {
      cursor.position += 1;
      cursor.skipSpaces();
    }
    if (cursor.position >= header.length) break;
    const param = challenges.length > 0 ? readParam(cursor) : undefined;
    const current = challenges[challenges.length - 1];
    if (param !== undefined && current !== undefined) {
      current.params[param[0]] = param[1];
      continue;
    }
    const scheme = cursor.token();
    if (scheme === undefined) break; // garbage: keep what was understood
    challenges.push({ scheme: scheme.toLowerCase(), params: {} });
  }
  return challenges;
}

/** The challenge we answer: Bearer before Basic; another scheme is not one we speak. */
export function pickChallenge(header: string | undefined): Challenge | undefined {
  const challenges = parseChallenges(header ?? '');
  return (
    challenges.find((c) => c.scheme === 'bearer') ?? challenges.find((c) => c.scheme === 'basic')
  );
}
