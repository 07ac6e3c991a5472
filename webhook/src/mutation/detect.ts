/**
 * Which containers hold references (docs/references.md), and the problems that deny the pod.
 * Pure apart from yielding (bounds.ts): the Secret/ConfigMap facts were gathered before
 * (sources.ts).
 */
import { Env, INIT_PROGRAM } from '../../../init-binary/src/contract.ts';
import { ReferenceError, hasReference, parseEnvValue } from '../../../init-binary/src/refs.ts';
import {
  MAX_REFERENCES_PER_POD,
  MAX_REFERENCES_PER_VALUE,
  Slicer,
  countReferences,
  tooManyInValue,
} from './bounds.ts';
import {
  describeSource,
  sourceKey,
  type KeyFact,
  type SourceIndex,
  type SourceKind,
  type SourceName,
} from './sources.ts';
import {
  describeContainer,
  type Container,
  type ContainerList,
  type ContainerPosition,
  type EnvVar,
  type Pod,
} from './types.ts';

export interface ContainerFacts {
  readonly position: ContainerPosition;
  /** Some env value (literal or behind valueFrom/envFrom) holds a reference. */
  readonly hasReference: boolean;
  /** Already runs the init program: left alone (idempotence under reinvocation). */
  readonly injected: boolean;
}

export interface Detection {
  readonly containers: readonly ContainerFacts[];
  /** Invalid references: each denies the pod, naming container, variable and problem. */
  readonly problems: readonly string[];
  /** Sources that could not be read or do not exist. */
  readonly warnings: readonly string[];
}

const LISTS: readonly ContainerList[] = ['initContainers', 'containers'];

export function eachContainer(pod: Pod): { container: Container; position: ContainerPosition }[] {
  return LISTS.flatMap((list) =>
    (pod.spec[list] ?? []).map((container, index) => ({
      container,
      position: { list, index, name: container.name },
    })),
  );
}

export function isInjected(c: Container): boolean {
  return c.command?.[0] === INIT_PROGRAM;
}

/** The Secrets and ConfigMaps that `valueFrom`/`envFrom` name, each once. */
export function sourcesOf(pod: Pod): SourceName[] {
  const seen = new Map<string, SourceName>();
  const add = (kind: SourceKind, name: string | undefined): void => {
    if (name) seen.set(sourceKey({ kind, name }), { kind, name });
  };
  for (const { container } of eachContainer(pod)) {
    for (const e of container.env ?? []) {
      add('secret', e.valueFrom?.secretKeyRef?.name);
      add('configmap', e.valueFrom?.configMapKeyRef?.name);
    }
    for (const f of container.envFrom ?? []) {
      add('secret', f.secretRef?.name);
      add('configmap', f.configMapRef?.name);
    }
  }
  return [...seen.values()];
}

/** What detection has found so far, across the pod. */
interface Collector {
  readonly problems: string[];
  readonly warnings: Set<string>;
  /** References counted in the pod so far. */
  references: number;
  readonly slicer: Slicer;
}

function sourceLookup(
  sources: SourceIndex,
  source: SourceName,
  optional: boolean | undefined,
  out: Collector,
): ReadonlyMap<string, KeyFact> | undefined {
  const facts = sources.get(sourceKey(source));
  if (facts === undefined) {
    out.warnings.add(`${describeSource(source)} was not read: references in it are not detected`);
  } else if (facts.state === 'unreadable') {
    out.warnings.add(
      `${describeSource(source)} could not be read (${facts.reason}): references in it are not detected`,
    );
  } else if (facts.state === 'missing') {
    if (!optional) out.warnings.add(`${describeSource(source)} does not exist`);
  } else {
    return facts.keys;
  }
  return undefined;
}

/** Counts `n` more references in the pod; false (and a problem) once the pod is over its bound. */
function counted(n: number, where: string, out: Collector): boolean {
  const before = out.references;
  out.references += n;
  if (out.references <= MAX_REFERENCES_PER_POD) return true;
  if (before <= MAX_REFERENCES_PER_POD) {
    out.problems.push(
      `the pod holds more than ${MAX_REFERENCES_PER_POD} references, the most one pod may hold (passed at ${where})`,
    );
  }
  return false;
}

function factProblem(fact: KeyFact, envName: string): string | undefined {
  if (fact.login && envName !== Env.TOKEN)
    return `"vault:login" is only valid as the value of ${Env.TOKEN}`;
  return fact.problem;
}

/** A literal value: counted first, parsed only when within the bounds. */
function checkLiteral(e: EnvVar & { value: string }, where: string, out: Collector): void {
  const n = countReferences(e.value, MAX_REFERENCES_PER_VALUE);
  if (n > MAX_REFERENCES_PER_VALUE) {
    out.problems.push(`${where}: ${tooManyInValue(n)}`);
    return;
  }
  if (!counted(n, where, out)) return;
  try {
    parseEnvValue(e.name, e.value);
  } catch (err) {
    if (!(err instanceof ReferenceError)) throw err;
    out.problems.push(`${where}: ${err.message}`);
  }
}

/** A fact about a source's key used as env `name`: counted, and its problem reported. */
function checkFact(fact: KeyFact, name: string, where: string, out: Collector): void {
  if (!counted(fact.references ?? 1, where, out)) return;
  const problem = factProblem(fact, name);
  if (problem !== undefined) out.problems.push(`${where}: ${problem}`);
}

/** True when some value of `c` holds a reference. */
async function checkEnv(c: Container, label: string, sources: SourceIndex, out: Collector) {
  let found = false;
  for (const e of c.env ?? []) {
    if (out.references > MAX_REFERENCES_PER_POD) break;
    await out.slicer.tick();
    if (e.value !== undefined) {
      if (!hasReference(e.value)) continue;
      found = true;
      checkLiteral(e as EnvVar & { value: string }, `${label}, env ${e.name}`, out);
      continue;
    }
    const ref = e.valueFrom?.secretKeyRef ?? e.valueFrom?.configMapKeyRef;
    if (!ref?.name) continue;
    const source: SourceName = {
      kind: e.valueFrom?.secretKeyRef ? 'secret' : 'configmap',
      name: ref.name,
    };
    const fact = sourceLookup(sources, source, ref.optional, out)?.get(ref.key);
    if (!fact?.reference) continue;
    found = true;
    checkFact(
      fact,
      e.name,
      `${label}, env ${e.name} (${describeSource(source)} key ${ref.key})`,
      out,
    );
  }
  return found;
}

/** True when some key of an `envFrom` source of `c` holds a reference. */
async function checkEnvFrom(c: Container, label: string, sources: SourceIndex, out: Collector) {
  let found = false;
  for (const f of c.envFrom ?? []) {
    const ref = f.secretRef ?? f.configMapRef;
    if (!ref?.name) continue;
    const source: SourceName = { kind: f.secretRef ? 'secret' : 'configmap', name: ref.name };
    for (const [key, fact] of sourceLookup(sources, source, ref.optional, out) ?? []) {
      if (!fact.reference) continue;
      if (out.references > MAX_REFERENCES_PER_POD) return found;
      await out.slicer.tick();
      found = true;
      const name = `${f.prefix ?? ''}${key}`;
      checkFact(fact, name, `${label}, env ${name} (envFrom ${describeSource(source)})`, out);
    }
  }
  return found;
}

export async function detect(
  pod: Pod,
  sources: SourceIndex,
  signal?: AbortSignal,
): Promise<Detection> {
  const out: Collector = {
    problems: [],
    warnings: new Set(),
    references: 0,
    slicer: new Slicer(signal),
  };
  const containers: ContainerFacts[] = [];
  for (const { container, position } of eachContainer(pod)) {
    if (isInjected(container)) {
      containers.push({ position, hasReference: false, injected: true });
      continue;
    }
    const label = describeContainer(position);
    const inEnv = await checkEnv(container, label, sources, out);
    const inEnvFrom = await checkEnvFrom(container, label, sources, out);
    containers.push({ position, hasReference: inEnv || inEnvFrom, injected: false });
  }
  return { containers, problems: out.problems, warnings: [...out.warnings] };
}
