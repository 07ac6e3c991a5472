/**
 * Vault Agent templates (`vault.hashicorp.com/agent-inject-template-NAME`), the subset of Go's
 * text/template that vault-k8s users write (docs/configuration.md#vault-agent-injector-annotations):
 * text, `{{ … }}` actions with `{{-`/`-}}` trimming and comments, `with`, `range` (with `$k, $v :=`),
 * `if`/`else`/`else if`/`else with`, variables (`$x := …`), fields (`.Data.data.key`, `$v.key`),
 * string and number literals, parentheses, pipelines and the functions of agent-render.ts. The
 * webhook parses at admission (anything else denies the pod naming the construct); the init
 * program parses again and renders. `secret` calls take literal arguments only, so that every
 * read is known before rendering. Pure.
 */
import { lex, type Piece, type Token } from './agent-lex.ts';
import { TemplateError } from './errors.ts';

export type Operand =
  | { readonly kind: 'field'; readonly base: string; readonly path: readonly string[] }
  | { readonly kind: 'string'; readonly value: string }
  | { readonly kind: 'number'; readonly value: number }
  | { readonly kind: 'bool'; readonly value: boolean }
  | { readonly kind: 'pipe'; readonly pipe: Pipe };

/** One command of a pipeline: a function and its arguments, or one operand. */
export type Command =
  | { readonly kind: 'call'; readonly fn: string; readonly args: readonly Operand[] }
  | { readonly kind: 'operand'; readonly operand: Operand };
export type Pipe = readonly Command[];

export type TemplateNode =
  | { readonly kind: 'text'; readonly text: string }
  | { readonly kind: 'print'; readonly pipe: Pipe }
  | { readonly kind: 'set'; readonly name: string; readonly pipe: Pipe }
  | {
      readonly kind: 'with' | 'if';
      readonly pipe: Pipe;
      readonly body: readonly TemplateNode[];
      readonly otherwise: readonly TemplateNode[];
    }
  | {
      readonly kind: 'range';
      readonly vars: readonly string[];
      readonly pipe: Pipe;
      readonly body: readonly TemplateNode[];
      readonly otherwise: readonly TemplateNode[];
    };

/** The functions a template may call (agent-render.ts implements each). */
export const AGENT_FUNCTIONS: ReadonlySet<string> = new Set([
  'secret',
  'printf',
  'print',
  'base64Encode',
  'base64Decode',
  'toJSON',
  'toJSONPretty',
  'index',
  'trimSpace',
  'toUpper',
  'toLower',
  'eq',
  'ne',
  'not',
  'and',
  'or',
  'len',
  'join',
  'split',
  'replaceAll',
]);

/** A `secret` call: a read of `path`, or with parameters a write of them to `path` (PKI issue). */
export interface SecretCall {
  readonly path: string;
  readonly params: Readonly<Record<string, string>> | undefined;
  /** The call's identity: equal calls are made once. */
  readonly id: string;
}

export interface AgentTemplate {
  readonly nodes: readonly TemplateNode[];
  readonly calls: readonly SecretCall[];
}

/** The most a template may hold, like the bounds of a reference (limits.ts). */
const MAX_TEMPLATE_CHARS = 64 * 1024;
const MAX_DEPTH = 32;

/** Reads one action's tokens. */
class Cursor {
  at = 0;
  readonly tokens: readonly Token[];
  readonly source: string;
  constructor(tokens: readonly Token[], source: string) {
    this.tokens = tokens;
    this.source = source;
  }
  peek(): Token | undefined {
    return this.tokens[this.at];
  }
  next(): Token | undefined {
    return this.tokens[this.at++];
  }
  done(): boolean {
    return this.at >= this.tokens.length;
  }
  isPunct(v: string): boolean {
    const t = this.peek();
    return t?.t === 'punct' && t.v === v;
  }
}

function parsePipe(c: Cursor, inParens = false): Pipe {
  const cmds: Command[] = [];
  for (;;) {
    const cmd = parseCommand(c);
    if (cmds.length > 0 && cmd.kind !== 'call') {
      throw new TemplateError(
        `${c.source}: a pipeline passes its value to something not a function`,
      );
    }
    cmds.push(cmd);
    if (!c.isPunct('|')) break;
    c.next();
  }
  if (!inParens && !c.done()) throw unexpected(c);
  return cmds;
}

function parseCommand(c: Cursor): Command {
  const first = c.peek();
  if (first?.t === 'word' && first.v !== 'true' && first.v !== 'false' && first.v !== 'nil') {
    c.next();
    if (!AGENT_FUNCTIONS.has(first.v)) {
      throw new TemplateError(`${c.source}: the function "${first.v}" is not supported`);
    }
    const args: Operand[] = [];
    while (!c.done() && !c.isPunct('|') && !c.isPunct(')')) args.push(parseOperand(c));
    if (first.v === 'printf') checkFormat(c, args[0]);
    return { kind: 'call', fn: first.v, args };
  }
  const operand = parseOperand(c);
  if (!c.done() && !c.isPunct('|') && !c.isPunct(')')) throw unexpected(c);
  return { kind: 'operand', operand };
}

/** printf's verbs are %s %v %d %q and %% (agent-render.ts). */
function checkFormat(c: Cursor, format: Operand | undefined): void {
  if (format?.kind !== 'string') return;
  const verb = /%[^svdq]/.exec(format.value.replace(/%%/g, ''));
  if (verb) throw new TemplateError(`${c.source}: printf verb "${verb[0]}" is not supported`);
}

function parseOperand(c: Cursor): Operand {
  const t = c.next();
  if (t === undefined) throw new TemplateError(`${c.source}: an operand is missing`);
  switch (t.t) {
    case 'str':
      return { kind: 'string', value: t.v };
    case 'num':
      return { kind: 'number', value: t.v };
    case 'field':
      return { kind: 'field', base: '.', path: t.v === '.' ? [] : t.v.slice(1).split('.') };
    case 'var': {
      const [base = '$', ...path] = t.v.split('.');
      return { kind: 'field', base, path };
    }
    case 'word':
      if (t.v === 'true' || t.v === 'false') return { kind: 'bool', value: t.v === 'true' };
      throw new TemplateError(`${c.source}: "${t.v}" is not supported here`);
    case 'punct':
      if (t.v !== '(') break;
      return parenthesised(c);
  }
  throw new TemplateError(`${c.source}: "${t.v}" is not supported here`);
}

function parenthesised(c: Cursor): Operand {
  const pipe = parsePipe(c, true);
  if (!c.isPunct(')')) throw new TemplateError(`${c.source}: a "(" is never closed`);
  c.next();
  return { kind: 'pipe', pipe };
}

function unexpected(c: Cursor): TemplateError {
  const t = c.peek();
  const what = t === undefined ? 'end' : String(t.v);
  return new TemplateError(`${c.source}: unsupported construct "${what}"`);
}

const UNSUPPORTED_KEYWORDS = new Set(['define', 'template', 'block', 'break', 'continue', 'nil']);

interface Block {
  readonly nodes: TemplateNode[];
  /** What ended it: `end`, `else` (with the rest of its action), or the end of the template. */
  readonly ended: 'end' | 'else' | 'eof';
  readonly elseCursor?: Cursor;
}

class Parser {
  at = 0;
  readonly pieces: readonly Piece[];
  constructor(pieces: readonly Piece[]) {
    this.pieces = pieces;
  }

  block(depth: number): Block {
    if (depth > MAX_DEPTH) throw new TemplateError(`nested deeper than ${MAX_DEPTH} levels`);
    const nodes: TemplateNode[] = [];
    while (this.at < this.pieces.length) {
      const piece = this.pieces[this.at++];
      if (piece === undefined) break;
      if ('text' in piece) {
        nodes.push({ kind: 'text', text: piece.text });
        continue;
      }
      const c = new Cursor(piece.tokens, piece.source);
      const head = c.peek();
      if (head?.t === 'word' && head.v === 'end') {
        c.next();
        if (!c.done()) throw unexpected(c);
        return { nodes, ended: 'end' };
      }
      if (head?.t === 'word' && head.v === 'else') {
        c.next();
        return { nodes, ended: 'else', elseCursor: c };
      }
      nodes.push(this.action(c, depth));
    }
    return { nodes, ended: 'eof' };
  }

  action(c: Cursor, depth: number): TemplateNode {
    const head = c.peek();
    if (head === undefined) throw new TemplateError(`${c.source}: an empty action`);
    if (head.t === 'word' && UNSUPPORTED_KEYWORDS.has(head.v)) {
      throw new TemplateError(`${c.source}: "${head.v}" is not supported`);
    }
    if (head.t === 'word' && (head.v === 'with' || head.v === 'if' || head.v === 'range')) {
      c.next();
      return this.control(head.v, c, depth);
    }
    if (head.t === 'var' && c.tokens[1]?.t === 'punct' && /^:?=$/.test(c.tokens[1].v)) {
      c.at = 2;
      return { kind: 'set', name: head.v, pipe: parsePipe(c) };
    }
    return { kind: 'print', pipe: parsePipe(c) };
  }

  control(kind: 'with' | 'if' | 'range', c: Cursor, depth: number): TemplateNode {
    const vars = kind === 'range' ? rangeVars(c) : [];
    const pipe = parsePipe(c);
    const body = this.block(depth + 1);
    let otherwise: TemplateNode[] = [];
    if (body.ended === 'else') {
      const rest = body.elseCursor as Cursor;
      if (rest.done()) {
        const tail = this.block(depth + 1);
        if (tail.ended !== 'end') throw new TemplateError(`${c.source}: no {{ end }} after else`);
        otherwise = tail.nodes;
      } else {
        const next = rest.next();
        if (next?.t !== 'word' || (next.v !== 'if' && next.v !== 'with')) throw unexpected(rest);
        // `else if`/`else with`: a nested block whose {{ end }} closes both.
        otherwise = [this.control(next.v, rest, depth + 1)];
      }
    } else if (body.ended !== 'end') {
      throw new TemplateError(`${c.source}: never closed with {{ end }}`);
    }
    return kind === 'range'
      ? { kind, vars, pipe, body: body.nodes, otherwise }
      : { kind, pipe, body: body.nodes, otherwise };
  }
}

/** `$k, $v :=` or `$v :=` at the start of a range, or none. */
function rangeVars(c: Cursor): string[] {
  const t = c.tokens.slice(c.at);
  if (t[0]?.t === 'var' && t[1]?.t === 'punct' && t[1].v === ':=') {
    c.at += 2;
    return [t[0].v];
  }
  if (t[0]?.t === 'var' && t[1]?.v === ',' && t[2]?.t === 'var' && t[3]?.v === ':=') {
    c.at += 4;
    return [t[0].v, t[2].v];
  }
  return [];
}

/**
 * Parses a Vault Agent template. Throws TemplateError naming the construct it does not support
 * (never quoting more than a few characters of the template).
 */
export function parseAgentTemplate(src: string): AgentTemplate {
  if (src.length > MAX_TEMPLATE_CHARS) {
    throw new TemplateError(`longer than ${MAX_TEMPLATE_CHARS} characters`);
  }
  const parser = new Parser(lex(src));
  const top = parser.block(0);
  if (top.ended === 'end') throw new TemplateError('an {{ end }} without a block to close');
  if (top.ended === 'else') throw new TemplateError('an {{ else }} without a block');
  checkVariables(top.nodes, new Set(['$']));
  const calls = new Map<string, SecretCall>();
  walk(top.nodes, (cmd) => {
    if (cmd.kind === 'call' && cmd.fn === 'secret') {
      const call = secretCall(cmd.args);
      calls.set(call.id, call);
    }
  });
  return { nodes: top.nodes, calls: [...calls.values()] };
}

/** The call of `secret ARGS`: literal strings only, a path then `key=value` parameters. */
export function secretCall(args: readonly Operand[]): SecretCall {
  const strings = args.map((a) => {
    if (a.kind !== 'string') {
      throw new TemplateError('secret takes literal strings only ("path", "key=value")');
    }
    return a.value;
  });
  const [path, ...rest] = strings;
  if (path === undefined || path.trim() === '') throw new TemplateError('secret without a path');
  const clean = path.trim().replace(/^\/+/, '');
  if (clean.split('/').some((s) => s === '..' || s === '.')) {
    throw new TemplateError(`secret "${clean}": a path with a "." or ".." segment`);
  }
  if (rest.length === 0) return { path: clean, params: undefined, id: JSON.stringify([clean]) };
  const params: Record<string, string> = {};
  for (const p of rest) {
    const eq = p.indexOf('=');
    if (eq <= 0) throw new TemplateError(`secret "${clean}": a parameter that is not key=value`);
    params[p.slice(0, eq)] = p.slice(eq + 1);
  }
  return { path: clean, params, id: JSON.stringify([clean, ...rest]) };
}

/** Go's rule: a variable is used only after its declaration, inside the block declaring it. */
function checkVariables(nodes: readonly TemplateNode[], declared: Set<string>): void {
  const pipe = (p: Pipe): void =>
    walk([{ kind: 'print', pipe: p }], (cmd) => {
      for (const o of cmd.kind === 'call' ? cmd.args : [cmd.operand]) {
        if (o.kind === 'field' && o.base !== '.' && !declared.has(o.base)) {
          throw new TemplateError(`the variable ${o.base} is used but never declared`);
        }
      }
    });
  for (const n of nodes) {
    if (n.kind === 'text') continue;
    pipe(n.pipe);
    if (n.kind === 'set') declared.add(n.name);
    if (n.kind === 'with' || n.kind === 'if' || n.kind === 'range') {
      const vars = n.kind === 'range' ? n.vars : [];
      checkVariables(n.body, new Set([...declared, ...vars]));
      checkVariables(n.otherwise, new Set(declared));
    }
  }
}

function walk(nodes: readonly TemplateNode[], visit: (c: Command) => void): void {
  const pipe = (p: Pipe): void => {
    for (const cmd of p) {
      visit(cmd);
      const operands = cmd.kind === 'call' ? cmd.args : [cmd.operand];
      for (const o of operands) if (o.kind === 'pipe') pipe(o.pipe);
    }
  };
  for (const n of nodes) {
    if (n.kind === 'text') continue;
    pipe(n.pipe);
    if (n.kind === 'with' || n.kind === 'if' || n.kind === 'range') {
      walk(n.body, visit);
      walk(n.otherwise, visit);
    }
  }
}

/** vault-k8s' default template: each top-level key of the answer's data, `KEY: VALUE` a line. */
export function defaultAgentTemplate(path: string): string {
  return `{{ with secret ${JSON.stringify(path)} }}{{ range $k, $v := .Data }}{{ $k }}: {{ $v }}\n{{ end }}{{ end }}`;
}
