/**
 * The settings a container gives the init program itself. The webhook polices a setting it reads
 * from an annotation (the Vault address allowlist, skip-verify, the path rules) the same way when
 * the container sets the variable in `env` (a value or a `valueFrom`) or through `envFrom`, or the
 * policy could be bypassed: the init program reads the container's value. Each table row says how
 * (annotations.ts `own`, `override`; docs/configuration.md). Pure: the Secret and ConfigMap values
 * needed were kept by sources.ts.
 */
import { ErrorCode, type ErrorCodeValue } from '../errors.ts';
import { SETTINGS, type Context } from './annotations.ts';
import { runsInitProgram } from './detect.ts';
import type { InjectionConfig } from './settings.ts';
import { describeSource, sourceKey, type SourceIndex, type SourceName } from './sources.ts';
import {
  describeContainer,
  type Container,
  type ContainerPosition,
  type EnvVar,
  type Pod,
} from './types.ts';
import { ValueError } from './values.ts';

type Row = (typeof SETTINGS)[number];
const POLICED: readonly Row[] = SETTINGS.filter(
  (r) => r.env !== undefined && (r.own !== undefined || r.override !== undefined),
);
const POLICED_NAMES: ReadonlySet<string> = new Set(POLICED.map((r) => r.env as string));

type Keep = (source: SourceName, key: string) => void;

const refSource = (secret: boolean, name: string): SourceName => ({
  kind: secret ? 'secret' : 'configmap',
  name,
});

function keysOf(c: Container, add: Keep): void {
  for (const e of c.env ?? []) {
    if (POLICED_NAMES.has(e.name)) keyOf(e, add);
  }
  for (const f of c.envFrom ?? []) {
    const ref = f.secretRef ?? f.configMapRef;
    if (ref?.name) keysFrom(refSource(f.secretRef !== undefined, ref.name), f.prefix ?? '', add);
  }
}

/** The key behind an env entry's valueFrom, if it names one. */
function keyOf(e: EnvVar, add: Keep): void {
  const ref = e.valueFrom?.secretKeyRef ?? e.valueFrom?.configMapKeyRef;
  if (ref?.name) add(refSource(e.valueFrom?.secretKeyRef !== undefined, ref.name), ref.key);
}

/** The keys of an envFrom source (under `prefix`) that would set a policed variable. */
function keysFrom(source: SourceName, prefix: string, add: Keep): void {
  for (const name of POLICED_NAMES) {
    if (name.startsWith(prefix)) add(source, name.slice(prefix.length));
  }
}

/** The Secret and ConfigMap keys that may set a policed variable, by `sourceKey`. */
export function policedKeys(pod: Pod): Map<string, Set<string>> {
  const keep = new Map<string, Set<string>>();
  const add: Keep = (source, key) => {
    const id = sourceKey(source);
    keep.set(id, (keep.get(id) ?? new Set()).add(key));
  };
  for (const c of [...(pod.spec.initContainers ?? []), ...pod.spec.containers]) keysOf(c, add);
  return keep;
}

/** What the container sets a variable to, as far as the webhook can tell. */
interface Own {
  /** The value; undefined when the webhook cannot read it (`unknown` says why). */
  readonly value?: string;
  readonly unknown?: string;
  /** Where it comes from, for messages: '' for `env[].value`, else ` (secret "s" key k)`. */
  readonly where: string;
  readonly secret: boolean;
  /** Set in `env` (which the webhook can rewrite), not through `envFrom`. */
  readonly inEnv: boolean;
}

function fromSource(
  sources: SourceIndex,
  source: SourceName,
  key: string,
  where: string,
): Own | 'unset' {
  const facts = sources.get(sourceKey(source));
  const secret = source.kind === 'secret';
  if (facts?.state === 'missing') return 'unset';
  if (facts?.state !== 'read') {
    return { unknown: `${describeSource(source)} could not be read`, where, secret, inEnv: false };
  }
  const fact = facts.keys.get(key);
  return fact === undefined ? 'unset' : { value: fact.value ?? '', where, secret, inEnv: false };
}

/** The value of an `env` entry: as written, or behind its valueFrom. */
function fromEntry(entry: EnvVar, sources: SourceIndex): Own | undefined {
  if (entry.valueFrom === undefined) {
    return { value: entry.value ?? '', where: '', secret: false, inEnv: true };
  }
  const ref = entry.valueFrom.secretKeyRef ?? entry.valueFrom.configMapKeyRef;
  if (!ref?.name) {
    const kind = Object.keys(entry.valueFrom)[0] ?? 'valueFrom';
    return { unknown: `it comes from ${kind}`, where: '', secret: false, inEnv: true };
  }
  const source = refSource(entry.valueFrom.secretKeyRef !== undefined, ref.name);
  const found = fromSource(sources, source, ref.key, ` (${describeSource(source)} key ${ref.key})`);
  return found === 'unset' ? undefined : { ...found, inEnv: true };
}

/** The container's own value of `name`: the last `env` entry, else the last `envFrom` holding it. */
function ownValue(c: Container, name: string, sources: SourceIndex): Own | undefined {
  const entry = (c.env ?? []).findLast((e) => e.name === name);
  if (entry) return fromEntry(entry, sources);
  for (const f of (c.envFrom ?? []).toReversed()) {
    const ref = f.secretRef ?? f.configMapRef;
    const prefix = f.prefix ?? '';
    if (!ref?.name || !name.startsWith(prefix)) continue;
    const source = refSource(f.secretRef !== undefined, ref.name);
    const where = ` (envFrom ${describeSource(source)})`;
    const found = fromSource(sources, source, name.slice(prefix.length), where);
    if (found !== 'unset') return found;
  }
  return undefined;
}

/** A container's place in the pod as one key: `containers/0`. */
export function positionId(p: Pick<ContainerPosition, 'list' | 'index'>): string {
  return `${p.list}/${p.index}`;
}

export interface Problem {
  readonly code: ErrorCodeValue;
  readonly message: string;
}

export interface Policed {
  /** Each denies the pod, naming container and variable. */
  readonly problems: Problem[];
  /** The values the webhook writes over the container's own, by `positionId`. */
  readonly overrides: Map<string, EnvVar[]>;
}

function refused(own: Own, err: ValueError, row: Row): string {
  if (!own.secret) return err.message;
  const what =
    err.code === ErrorCode.ADDR_NOT_ALLOWED
      ? 'not an allowed Vault address'
      : `not valid for ${row.key}`;
  return `holds a value that is ${what} (details withheld: it is a Secret value)`;
}

interface Scope {
  readonly sources: SourceIndex;
  /** The variables the webhook writes for every injected container (its `env` beats `envFrom`). */
  readonly written: ReadonlySet<string>;
  readonly base: Omit<Context, 'key'>;
  readonly out: Policed;
  /** The container is injected now, so the webhook may write over its settings. */
  readonly rewritable: boolean;
  /** The container's `positionId`. */
  readonly id: string;
}

/** A setting the webhook writes over: kept, overridden, or (when not rewritable) denied. */
function policeOverride(row: Row, own: Own, ctx: Context, scope: Scope): void {
  const { override, env: name } = row;
  if (override === undefined || name === undefined) return;
  // Warnings are for values the webhook writes over; a container it does not rewrite is denied.
  const value = override(own.value, scope.rewritable ? ctx : { ...ctx, warnings: [] });
  if (value === undefined) return;
  if (!scope.rewritable) {
    // A container that already runs the init program is not rewritten (reinvocation).
    scope.out.problems.push({
      code: ErrorCode.ANNOTATION,
      message: `${ctx.key}: set it to ${value} or remove it`,
    });
    return;
  }
  const list = scope.out.overrides.get(scope.id) ?? [];
  scope.out.overrides.set(scope.id, [...list, { name, value }]);
}

function policeRow(c: Container, label: string, row: Row, scope: Scope): void {
  const name = row.env as string;
  const own = ownValue(c, name, scope.sources);
  // Through envFrom only, a variable the webhook writes itself into this container (its env entry
  // wins) never reaches the init program.
  const shadowed = !own?.inEnv && scope.rewritable && scope.written.has(name);
  if (own === undefined || shadowed) return;
  const ctx: Context = { ...scope.base, key: `${label}, env ${name}${own.where}` };
  if (row.override) {
    policeOverride(row, own, ctx, scope);
    return;
  }
  if (own.value === undefined) {
    if (row.own === 'strict') {
      scope.out.problems.push({
        code: ErrorCode.ADDR_NOT_ALLOWED,
        message: `${ctx.key}: ${own.unknown}, so the webhook cannot check it`,
      });
    }
    return;
  }
  try {
    row.parse(own.value, ctx);
  } catch (err) {
    if (!(err instanceof ValueError)) throw err;
    scope.out.problems.push({ code: err.code, message: `${ctx.key}: ${refused(own, err, row)}` });
  }
}

/**
 * Polices the own settings of every container that will run the init program: `targets` and
 * those that already do. `written` holds the variables the webhook writes for them.
 */
export function policeOwnEnv(
  pod: Pod,
  targets: readonly ContainerPosition[],
  scope: Pick<Scope, 'sources' | 'written'> & { config: InjectionConfig; warnings: string[] },
): Policed {
  const out: Policed = { problems: [], overrides: new Map() };
  const base = { config: scope.config, pod, warnings: scope.warnings };
  const chosen = new Set(targets.map(positionId));
  for (const list of ['initContainers', 'containers'] as const) {
    (pod.spec[list] ?? []).forEach((c, index) => {
      const id = positionId({ list, index });
      const rewritable = chosen.has(id);
      if (!rewritable && !runsInitProgram(c)) return;
      const label = describeContainer({ list, name: c.name });
      const { sources, written } = scope;
      const full: Scope = { sources, written, base, out, rewritable, id };
      for (const row of POLICED) policeRow(c, label, row, full);
    });
  }
  return out;
}
