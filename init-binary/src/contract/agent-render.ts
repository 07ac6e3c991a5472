/**
 * Renders a parsed Vault Agent template (agent-template.ts) with the answers of its `secret`
 * calls, the way Go's text/template and consul-template print them: maps as `map[k:v …]` (keys
 * sorted), lists as `[a b]`, JSON's null as `<nil>`. Unlike Go, a field with no value (a missing
 * key) fails the render instead of printing `<no value>`: a file is whole or not written. Errors
 * name the expression, never a value. Pure.
 */
import type { AgentTemplate, Command, Operand, Pipe, TemplateNode } from './agent-template.ts';
import { secretCall } from './agent-template.ts';
import { TemplateError } from './errors.ts';

/** What `secret` gives a template: the answer's data and lease, named as consul-template does. */
export interface SecretAnswer {
  readonly Data: unknown;
  readonly LeaseID: string;
  readonly LeaseDuration: number;
  readonly Renewable: boolean;
}

type Value = unknown;

interface Scope {
  readonly dot: Value;
  readonly vars: Map<string, Value>;
}

/** Go's `truth`: false, 0, nil, and empty text, lists and maps are false. */
function truthy(v: Value): boolean {
  if (v === undefined || v === null || v === false || v === 0 || v === '') return false;
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === 'object') return Object.keys(v).length > 0;
  return true;
}

/** A value as Go's fmt prints it with %v (nested: nil is `<nil>`). */
export function goPrint(v: Value, nested = false): string {
  if (v === undefined || v === null) return nested ? '<nil>' : '<no value>';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return `[${v.map((x) => goPrint(x, true)).join(' ')}]`;
  if (typeof v === 'object') {
    const o = v as Record<string, unknown>;
    const keys = Object.keys(o).sort();
    return `map[${keys.map((k) => `${k}:${goPrint(o[k], true)}`).join(' ')}]`;
  }
  return String(v);
}

/** Go's json.Marshal: keys sorted, no spaces, `<`, `>`, `&` escaped. */
function toJson(v: Value, indent?: number): string {
  const sorted = (x: unknown): unknown => {
    if (Array.isArray(x)) return x.map(sorted);
    if (typeof x === 'object' && x !== null) {
      const o = x as Record<string, unknown>;
      return Object.fromEntries(
        Object.keys(o)
          .sort()
          .map((k) => [k, sorted(o[k])]),
      );
    }
    return x;
  };
  const text = JSON.stringify(sorted(v ?? null), null, indent) ?? 'null';
  return text
    .replace(/</g, '\\u003c')
    .replace(/>/g, '\\u003e')
    .replace(/&/g, '\\u0026')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

function text(fn: string, v: Value): string {
  if (typeof v !== 'string') throw new TemplateError(`${fn} takes text`);
  return v;
}

function base64Decode(v: Value): string {
  const s = text('base64Decode', v);
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(s) || s.length % 4 !== 0) {
    throw new TemplateError('base64Decode: the value is not standard base64');
  }
  return Buffer.from(s, 'base64').toString('utf8');
}

/** Go's fmt.Sprintf for the verbs templates use: %s %v %d %q %%. */
function printf(format: Value, args: readonly Value[]): string {
  const f = text('printf', format);
  let i = 0;
  return f.replace(/%([svdq%])/g, (_, verb: string) => {
    if (verb === '%') return '%';
    if (i >= args.length) return `%!${verb}(MISSING)`;
    const a = args[i++];
    if (verb === 'q') return JSON.stringify(goPrint(a));
    return goPrint(a, true);
  });
}

/** Go's fmt.Sprint: a space between operands when neither is text. */
function sprint(args: readonly Value[]): string {
  let out = '';
  args.forEach((a, i) => {
    const prev = args[i - 1];
    if (i > 0 && typeof a !== 'string' && typeof prev !== 'string') out += ' ';
    out += goPrint(a, true);
  });
  return out;
}

function index(v: Value, keys: readonly Value[]): Value {
  let at = v;
  for (const k of keys) {
    if (Array.isArray(at) && typeof k === 'number') at = at[k];
    else if (typeof at === 'object' && at !== null && typeof k === 'string') {
      at = Object.hasOwn(at, k) ? (at as Record<string, unknown>)[k] : undefined;
    } else at = undefined;
    if (at === undefined) throw new TemplateError(`index: no value at ${JSON.stringify(k)}`);
  }
  return at;
}

type Fn = (args: readonly Value[], answers: ReadonlyMap<string, SecretAnswer>) => Value;

function one(fn: string, args: readonly Value[]): Value {
  if (args.length !== 1) throw new TemplateError(`${fn} takes one argument`);
  return args[0];
}

const FUNCTIONS: Readonly<Record<string, Fn>> = {
  printf: (a) => printf(a[0], a.slice(1)),
  print: (a) => sprint(a),
  base64Encode: (a) => Buffer.from(text('base64Encode', one('base64Encode', a))).toString('base64'),
  base64Decode: (a) => base64Decode(one('base64Decode', a)),
  toJSON: (a) => toJson(one('toJSON', a)),
  toJSONPretty: (a) => toJson(one('toJSONPretty', a), 2),
  index: (a) => index(a[0], a.slice(1)),
  trimSpace: (a) => text('trimSpace', one('trimSpace', a)).trim(),
  toUpper: (a) => text('toUpper', one('toUpper', a)).toUpperCase(),
  toLower: (a) => text('toLower', one('toLower', a)).toLowerCase(),
  // Go's comparisons of basic values: eq is true when the first equals any of the others.
  eq: (a) => a.slice(1).some((x) => comparable(x) === comparable(a[0])),
  ne: (a) => comparable(a[0]) !== comparable(a[1]),
  not: (a) => !truthy(one('not', a)),
  and: (a) => a.find((x) => !truthy(x)) ?? a.at(-1),
  or: (a) => a.find((x) => truthy(x)) ?? a.at(-1),
  len: (a) => length(one('len', a)),
  // consul-template's argument order, made for pipelines: `.list | join ","`.
  join: (a) =>
    list('join', a[1])
      .map((x) => goPrint(x, true))
      .join(text('join', a[0])),
  split: (a) => text('split', a[1]).split(text('split', a[0])),
  replaceAll: (a) =>
    text('replaceAll', a[2]).replaceAll(text('replaceAll', a[0]), text('replaceAll', a[1])),
};

function comparable(v: Value): Value {
  if (typeof v === 'object' && v !== null)
    throw new TemplateError('eq and ne compare basic values only');
  return v;
}

function length(v: Value): number {
  if (typeof v === 'string' || Array.isArray(v)) return v.length;
  if (typeof v === 'object' && v !== null) return Object.keys(v).length;
  throw new TemplateError('len takes text, a list or a map');
}

function list(fn: string, v: Value): readonly Value[] {
  if (!Array.isArray(v)) throw new TemplateError(`${fn} takes a list`);
  return v;
}

class Renderer {
  readonly answers: ReadonlyMap<string, SecretAnswer>;
  constructor(answers: ReadonlyMap<string, SecretAnswer>) {
    this.answers = answers;
  }

  nodes(nodes: readonly TemplateNode[], scope: Scope): string {
    let out = '';
    for (const n of nodes) out += this.node(n, scope);
    return out;
  }

  node(n: TemplateNode, scope: Scope): string {
    switch (n.kind) {
      case 'text':
        return n.text;
      case 'print': {
        const v = this.pipe(n.pipe, scope);
        if (v === undefined) throw new TemplateError(`${describe(n.pipe)} has no value`);
        return goPrint(v);
      }
      case 'set':
        scope.vars.set(n.name, this.pipe(n.pipe, scope));
        return '';
      case 'if':
      case 'with': {
        const v = this.pipe(n.pipe, scope);
        const inner = { dot: n.kind === 'with' ? v : scope.dot, vars: new Map(scope.vars) };
        return truthy(v) ? this.nodes(n.body, inner) : this.nodes(n.otherwise, scope);
      }
      case 'range':
        return this.range(n, scope);
    }
  }

  range(n: Extract<TemplateNode, { kind: 'range' }>, scope: Scope): string {
    const v = this.pipe(n.pipe, scope);
    let entries: [Value, Value][];
    if (Array.isArray(v)) entries = v.map((x, i) => [i, x]);
    else if (typeof v === 'object' && v !== null) {
      const o = v as Record<string, unknown>;
      entries = Object.keys(o)
        .sort()
        .map((k) => [k, o[k]]);
    } else if (v === undefined || v === null) entries = [];
    else throw new TemplateError(`${describe(n.pipe)}: range over something not a list or map`);
    if (entries.length === 0) return this.nodes(n.otherwise, scope);
    let out = '';
    for (const [k, x] of entries) {
      const vars = new Map(scope.vars);
      const [first, second] = n.vars;
      if (second !== undefined && first !== undefined) {
        vars.set(first, k);
        vars.set(second, x);
      } else if (first !== undefined) vars.set(first, x);
      out += this.nodes(n.body, { dot: x, vars });
    }
    return out;
  }

  pipe(p: Pipe, scope: Scope): Value {
    let last: Value;
    p.forEach((cmd, i) => {
      last = this.command(cmd, scope, i === 0 ? undefined : { value: last });
    });
    return last;
  }

  command(cmd: Command, scope: Scope, piped: { value: Value } | undefined): Value {
    if (cmd.kind === 'operand') return this.operand(cmd.operand, scope);
    if (cmd.fn === 'secret') {
      const call = secretCall(cmd.args);
      const answer = this.answers.get(call.id);
      if (answer === undefined) throw new TemplateError(`secret "${call.path}" was not read`);
      return answer;
    }
    const args = cmd.args.map((a) => this.operand(a, scope));
    if (piped) args.push(piped.value);
    const fn = FUNCTIONS[cmd.fn];
    if (fn === undefined) throw new TemplateError(`the function "${cmd.fn}" is not supported`);
    return fn(args, this.answers);
  }

  operand(o: Operand, scope: Scope): Value {
    switch (o.kind) {
      case 'string':
      case 'number':
      case 'bool':
        return o.value;
      case 'pipe':
        return this.pipe(o.pipe, scope);
      case 'field': {
        let v: Value;
        if (o.base === '.') v = scope.dot;
        else if (scope.vars.has(o.base)) v = scope.vars.get(o.base);
        else throw new TemplateError(`the variable ${o.base} is not defined`);
        for (const key of o.path) {
          v =
            typeof v === 'object' && v !== null && !Array.isArray(v) && Object.hasOwn(v, key)
              ? (v as Record<string, unknown>)[key]
              : undefined;
        }
        return v;
      }
    }
  }
}

function describe(p: Pipe): string {
  const operand = (o: Operand): string => {
    if (o.kind === 'field') {
      return o.base === '.' ? `.${o.path.join('.')}` : [o.base, ...o.path].join('.');
    }
    if (o.kind === 'pipe') return `(${describe(o.pipe)})`;
    return JSON.stringify(o.value);
  };
  return p
    .map((c) => (c.kind === 'call' ? [c.fn, ...c.args.map(operand)].join(' ') : operand(c.operand)))
    .join(' | ');
}

/**
 * The template's text with `answers` (by SecretCall id). Throws TemplateError naming the
 * expression that failed (a missing key, a function on the wrong input), never a value.
 */
export function renderAgentTemplate(
  t: AgentTemplate,
  answers: ReadonlyMap<string, SecretAnswer>,
): string {
  const vars = new Map<string, Value>([['$', undefined]]);
  return new Renderer(answers).nodes(t.nodes, { dot: undefined, vars });
}
