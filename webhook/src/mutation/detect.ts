/**
 * Which containers hold references (CONTRACT section 1), and the problems that deny the pod.
 * Pure: the Secret/ConfigMap facts were gathered before (sources.ts).
 */
import {
  Env,
  INIT_PROGRAM,
  MalformedReferenceError,
  hasReference,
  parseEnvValue,
} from '../../../init-binary/src/contract/index.ts';
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
    if (isInjected(container)) continue;
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

interface Collector {
  hasReference: boolean;
  readonly problems: string[];
  readonly warnings: Set<string>;
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

function factProblem(fact: KeyFact, envName: string): string | undefined {
  if (fact.login && envName !== Env.TOKEN)
    return `"vault:login" is only valid as the value of ${Env.TOKEN}`;
  return fact.problem;
}

function checkEnv(c: Container, label: string, sources: SourceIndex, out: Collector): void {
  for (const e of c.env ?? []) {
    if (e.value !== undefined) {
      if (!hasReference(e.value)) continue;
      out.hasReference = true;
      try {
        parseEnvValue(e.name, e.value);
      } catch (err) {
        if (!(err instanceof MalformedReferenceError)) throw err;
        out.problems.push(`${label}, env ${e.name}: ${err.message}`);
      }
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
    out.hasReference = true;
    const problem = factProblem(fact, e.name);
    if (problem !== undefined) {
      out.problems.push(
        `${label}, env ${e.name} (${describeSource(source)} key ${ref.key}): ${problem}`,
      );
    }
  }
}

function checkEnvFrom(c: Container, label: string, sources: SourceIndex, out: Collector): void {
  for (const f of c.envFrom ?? []) {
    const ref = f.secretRef ?? f.configMapRef;
    if (!ref?.name) continue;
    const source: SourceName = { kind: f.secretRef ? 'secret' : 'configmap', name: ref.name };
    const keys = sourceLookup(sources, source, ref.optional, out);
    for (const [key, fact] of keys ?? []) {
      if (!fact.reference) continue;
      out.hasReference = true;
      const name = `${f.prefix ?? ''}${key}`;
      const problem = factProblem(fact, name);
      if (problem !== undefined) {
        out.problems.push(`${label}, env ${name} (envFrom ${describeSource(source)}): ${problem}`);
      }
    }
  }
}

export function detect(pod: Pod, sources: SourceIndex): Detection {
  const problems: string[] = [];
  const warnings = new Set<string>();
  const containers = eachContainer(pod).map(({ container, position }): ContainerFacts => {
    if (isInjected(container)) return { position, hasReference: false, injected: true };
    const out: Collector = { hasReference: false, problems, warnings };
    const label = describeContainer(position);
    checkEnv(container, label, sources, out);
    checkEnvFrom(container, label, sources, out);
    return { position, hasReference: out.hasReference, injected: false };
  });
  return { containers, problems, warnings: [...warnings] };
}
