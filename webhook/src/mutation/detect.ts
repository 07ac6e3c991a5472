/**
 * Which containers hold references (docs/references.md), and the problems that deny the pod.
 * Pure apart from yielding (bounds.ts): the Secret/ConfigMap facts were gathered before
 * (sources.ts).
 */
import {
  COPY_FLAG,
  SIDECAR_FLAG,
  Env,
  INIT_PROGRAM,
  MalformedReferenceError,
  ReferenceBudget,
  TooManyReferencesError,
  hasReference,
  parseEnvValue,
} from '../../../init-binary/src/contract/index.ts';
import { MAX_REFERENCES_PER_POD, Slicer, tooManyInPod, tooManyInValue } from './bounds.ts';
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

/** Runs the init program in front of an app (not as the copy of the bundle). */
export function runsInitProgram(c: Container): boolean {
  return isInjected(c) && c.command?.[1] !== COPY_FLAG && c.command?.[1] !== SIDECAR_FLAG;
}

/** What Bank-Vaults' webhook puts in front of a container's command (its pod.go). */
export const BANK_VAULTS_ENV = '/vault/vault-env';

const runsBankVaults = (c: Container): boolean => c.command?.[0] === BANK_VAULTS_ENV;

/**
 * The containers Bank-Vaults' webhook has already wrapped in its `vault-env` (both webhooks
 * select this pod), each with what happened, then what to do; empty when there is none. Wrapping
 * such a container again would resolve its secrets twice, with two sets of settings, so the pod is
 * denied rather than taken over (docs/migrating-from-bank-vaults.md says why).
 */
export function bankVaultsWrapped(pod: Pod): string[] {
  const wrapped = eachContainer(pod).filter(({ container }) => runsBankVaults(container));
  if (wrapped.length === 0) return [];
  const problems = wrapped.map(({ container, position }) =>
    container.args?.[0] === INIT_PROGRAM
      ? `${describeContainer(position)}: Bank-Vaults' webhook put ${BANK_VAULTS_ENV} in front of vault-inject's init program after this webhook injected it`
      : `${describeContainer(position)} already runs Bank-Vaults' ${BANK_VAULTS_ENV}: vault-inject does not wrap it a second time`,
  );
  return [
    ...problems,
    'both webhooks select this pod: keep it on Bank-Vaults with the annotation vault-inject.dev/inject: "false", or move it to vault-inject by excluding it from Bank-Vaults\' webhook (its namespaceSelector or objectSelector); see docs/migrating-from-bank-vaults.md',
  ];
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
  /** The references of the whole pod; spent once it holds a problem saying so. */
  readonly budget: ReferenceBudget;
  overBudget: boolean;
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

/** The pod passed its budget (and a problem says so): no more references are looked at. */
const spent = (out: Collector): boolean => out.overBudget;

function overBudget(where: string, out: Collector): void {
  out.overBudget = true;
  out.problems.push(tooManyInPod(where));
}

/** Counts `n` more references in the pod; false (and a problem) once the pod is over its bound. */
function counted(n: number, where: string, out: Collector): boolean {
  try {
    for (let i = 0; i < n; i++) out.budget.take();
    return true;
  } catch (err) {
    if (!(err instanceof TooManyReferencesError)) throw err;
    overBudget(where, out);
    return false;
  }
}

function factProblem(fact: KeyFact, envName: string): string | undefined {
  if (fact.login && envName !== Env.TOKEN)
    return `"vault:login" is only valid as the value of ${Env.TOKEN}`;
  return fact.problem;
}

/** A literal value, parsed against the pod's budget. */
function checkLiteral(e: EnvVar & { value: string }, where: string, out: Collector): void {
  try {
    parseEnvValue(e.name, e.value, { budget: out.budget });
  } catch (err) {
    if (!(err instanceof MalformedReferenceError)) throw err;
    if (!(err instanceof TooManyReferencesError)) out.problems.push(`${where}: ${err.message}`);
    else if (err.limit === out.budget.max && out.budget.used >= out.budget.max) {
      overBudget(where, out);
    } else out.problems.push(`${where}: ${tooManyInValue()}`);
  }
}

/** A fact about a source's key used as env `name`: counted, and its problem reported. */
function checkFact(fact: KeyFact, name: string, where: string, out: Collector): void {
  if (!counted(fact.references ?? 0, where, out)) return;
  const problem = factProblem(fact, name);
  if (problem !== undefined) out.problems.push(`${where}: ${problem}`);
}

/** True when the value behind `e.valueFrom` holds a reference (checked). */
function checkValueFrom(e: EnvVar, label: string, sources: SourceIndex, out: Collector): boolean {
  const ref = e.valueFrom?.secretKeyRef ?? e.valueFrom?.configMapKeyRef;
  if (!ref?.name) return false;
  const secret = e.valueFrom?.secretKeyRef !== undefined;
  const source: SourceName = { kind: secret ? 'secret' : 'configmap', name: ref.name };
  const fact = sourceLookup(sources, source, ref.optional, out)?.get(ref.key);
  if (!fact?.reference) return false;
  const where = `${label}, env ${e.name} (${describeSource(source)} key ${ref.key})`;
  checkFact(fact, e.name, where, out);
  return true;
}

/** True when some value of `c` holds a reference. */
async function checkEnv(c: Container, label: string, sources: SourceIndex, out: Collector) {
  let found = false;
  for (const e of c.env ?? []) {
    if (spent(out)) break;
    await out.slicer.tick();
    if (e.value === undefined) {
      found = checkValueFrom(e, label, sources, out) || found;
    } else if (hasReference(e.value)) {
      found = true;
      checkLiteral(e as EnvVar & { value: string }, `${label}, env ${e.name}`, out);
    }
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
      if (spent(out)) return found;
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
    budget: new ReferenceBudget(MAX_REFERENCES_PER_POD),
    overBudget: false,
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
