/**
 * One pod through the webhook: opt-out, detection, settings, command lookup, mutation. Shared by
 * the admission handler and the offline preview, which differ only in their readers and policy.
 * All I/O (Secret/ConfigMap reads, registry) happens before the pure `mutate`.
 */
import { ErrorCode, WebhookError, type ErrorCodeValue } from '../errors.ts';
import { MAX_ITEMS, MAX_MESSAGE_CHARS, capItems, capText } from '../mutation/bounds.ts';
import { CONTAINERS, DELIVERY, FROM_PATH, readAnnotation } from '../mutation/annotations.ts';
import { annotationWarnings } from '../mutation/bank-vaults.ts';
import {
  bankVaultsWrapped,
  detect,
  runsInitProgram,
  sourcesOf,
  type Detection,
} from '../mutation/detect.ts';
import {
  existingDelivery,
  initEnv,
  mutate,
  nameClashes,
  needsRepair,
  type Target,
} from '../mutation/mutate.ts';
import { policedKeys, policeOwnEnv, positionId } from '../mutation/own-env.ts';
import {
  filesPlan,
  hasSecretFiles,
  hasSidecar,
  receiversAmong,
  secretFileClashes,
  withReceivers,
  type SecretFilesPlan,
} from '../mutation/secret-files.ts';
import { AGENT } from '../mutation/refresh-rows.ts';
import { withSidecar } from '../mutation/sidecar.ts';
import { quote } from '../mutation/values.ts';
import {
  injectAnnotation,
  injectionWanted,
  podSettings,
  type PodSettings,
} from '../mutation/pod-settings.ts';
import type { InjectionConfig } from '../mutation/settings.ts';
import { readSources, type SourceIndex, type SourceReader } from '../mutation/sources.ts';
import {
  describeContainer,
  type Container,
  type ContainerPosition,
  type Pod,
} from '../mutation/types.ts';
import type {
  ImageCommand,
  ImageCommandLookup,
  ImageCommandRequest,
} from '../registry/image-command.ts';
import type { PodPlacement } from '../registry/oci/platform.ts';

export interface PipelineDeps {
  readonly config: InjectionConfig;
  /** Reads Secrets/ConfigMaps behind valueFrom/envFrom; absent: such references go undetected. */
  readonly sources?: SourceReader;
  readonly images: ImageCommandLookup;
  /**
   * A container whose command `images` cannot give (E_NO_COMMAND):
   * - `deny`: the pod is denied with the lookup's message (the webhook's default);
   * - `admit`: the whole pod is admitted unmutated with a warning (`--registry-failure-policy
   *   admit`). Never partly: a pod without the status annotation stays visible to the guard policy;
   * - `warn`: that container is left as it is, with a warning, the rest injected (offline preview).
   */
  readonly missingCommand: 'deny' | 'admit' | 'warn';
}

export type Outcome =
  | { readonly result: 'skipped'; readonly warnings: string[] }
  | { readonly result: 'unchanged'; readonly warnings: string[] }
  /** An image could not be looked up and the failure policy admits the pod as it is. */
  | { readonly result: 'failed_open'; readonly warnings: string[] }
  | {
      readonly result: 'mutated';
      readonly pod: Pod;
      readonly containers: readonly string[];
      /** How the injected containers log in to Vault (for the audit line). */
      readonly login: Pick<PodSettings, 'role' | 'authPath' | 'authMethod'>;
      readonly warnings: string[];
    }
  | { readonly result: 'denied'; readonly error: WebhookError; readonly warnings: string[] };

function chooseTargets(detection: Detection, settings: PodSettings, warnings: string[]) {
  const candidates = detection.containers.filter((c) => !c.injected);
  if (settings.containers) {
    const names = new Set(settings.containers);
    const known = new Set(detection.containers.map((c) => c.position.name));
    for (const n of names) {
      if (!known.has(n))
        warnings.push(`annotation ${CONTAINERS.key} names no container ${quote(n)}`);
    }
    return candidates.filter((c) => names.has(c.position.name));
  }
  // `from-path` reaches every container, init containers too (Bank-Vaults injects them alike);
  // `inject: true` every app container; other init containers only by reference.
  const all = settings.inject === true || settings.fromPath !== undefined;
  const init = settings.fromPath !== undefined;
  return candidates.filter(
    (c) => c.hasReference || (all && (init || c.position.list === 'containers')),
  );
}

/** A `delivery` annotation the pod's own delivery overrules is said, not dropped silently. */
function deliveryNotFollowed(pod: Pod, settings: PodSettings, warnings: string[]): void {
  const asked = readAnnotation(pod.metadata?.annotations, DELIVERY);
  const has = existingDelivery(pod);
  if (asked === undefined || has === undefined || has === settings.delivery) return;
  warnings.push(
    `annotation ${asked.key} ignored: the pod already has ${has === 'image' ? 'image' : 'emptyDir'} delivery (its vault-inject volume or bundle mounts), which it keeps`,
  );
}

/** Cheap test before reading annotations: a pod with nothing to inject is not validated. */
function mayInject(pod: Pod, detection: Detection): boolean {
  if (detection.containers.some((c) => c.hasReference)) return true;
  const an = pod.metadata?.annotations;
  return (
    readAnnotation(an, FROM_PATH) !== undefined ||
    readAnnotation(an, CONTAINERS) !== undefined ||
    injectAnnotation(pod) === true ||
    hasSecretFiles(pod)
  );
}

function containerAt(pod: Pod, p: ContainerPosition): Container {
  return pod.spec[p.list]?.[p.index] as Container;
}

/** Kubernetes treats an empty list like an absent one, for `command` and `args` alike. */
const isSet = (list: readonly string[] | undefined): list is string[] =>
  list !== undefined && list.length > 0;

/** One review in progress: the pod, where it is created, the webhook's parts, what to tell. */
interface Review {
  readonly pod: Pod;
  readonly namespace: string;
  readonly deps: PipelineDeps;
  readonly signal: AbortSignal;
  readonly warnings: string[];
  /** The pod's `registry-skip-verify`, once its settings are read (allowed by the webhook). */
  registrySkipVerify?: boolean;
}

function lookupRequest(r: Review, position: ContainerPosition, c: Container): ImageCommandRequest {
  const { spec } = r.pod;
  const insecure = r.registrySkipVerify === true;
  const legacyAccount = typeof spec.serviceAccount === 'string' ? spec.serviceAccount : '';
  return {
    image: c.image ?? '',
    namespace: r.namespace,
    imagePullSecrets: (spec.imagePullSecrets ?? []).map((s) => s?.name).filter((n) => !!n),
    serviceAccountName: spec.serviceAccountName || legacyAccount || 'default',
    placement: { nodeSelector: spec.nodeSelector, affinity: spec.affinity } as PodPlacement,
    container: position,
    ...(insecure ? { insecureSkipVerify: true } : {}),
  };
}

/** A container's argv, or the lookup failure the policy decides about. */
type Found =
  | { readonly position: ContainerPosition; readonly argv: string[] }
  | { readonly position: ContainerPosition; readonly failure: WebhookError };

async function argvOf(r: Review, position: ContainerPosition): Promise<Found> {
  const c = containerAt(r.pod, position);
  if (isSet(c.command)) return { position, argv: [...c.command, ...(c.args ?? [])] };
  let image: ImageCommand;
  try {
    image = await r.deps.images.lookup(lookupRequest(r, position, c), r.signal);
  } catch (err) {
    if (err instanceof WebhookError && err.code === ErrorCode.NO_COMMAND) {
      return { position, failure: err };
    }
    throw err;
  }
  // Kubernetes: without `command`, the image's ENTRYPOINT runs with `args`, or else its CMD. The
  // image's strings arrive escaped for `args` ($ → $$); the container's own args are kept as
  // written, since kubelet expanded them before and will again.
  const argv = [...image.entrypoint, ...(isSet(c.args) ? c.args : image.cmd)];
  if (argv.length === 0) {
    // An answer, not a failure: no policy admits a container that has nothing to run.
    throw new WebhookError(
      ErrorCode.NO_COMMAND,
      `${describeContainer(position)} has no command and its image "${c.image ?? ''}" sets neither ENTRYPOINT nor CMD: set "command"`,
    );
  }
  return { position, argv };
}

/** One denial for several problems, each named (capped: bounds.ts). */
function denial(code: ErrorCodeValue, problems: readonly string[], cause?: Error): WebhookError {
  return new WebhookError(code, capItems(problems, 'problems').join('; '), { cause });
}

function joined(failures: readonly WebhookError[]): WebhookError {
  const [first] = failures;
  if (failures.length === 1 && first) return first;
  return denial(
    ErrorCode.NO_COMMAND,
    failures.map((f) => f.message),
    first,
  );
}

/** The outcome as told: its warnings and denial capped (bounds.ts). */
function told(outcome: Outcome): Outcome {
  const warnings = capItems(outcome.warnings, 'warnings');
  if (outcome.result !== 'denied') return { ...outcome, warnings };
  const { error } = outcome;
  const message = capText(error.message, MAX_MESSAGE_CHARS * MAX_ITEMS);
  const capped =
    message === error.message ? error : new WebhookError(error.code, message, { cause: error });
  return { result: 'denied', error: capped, warnings };
}

/**
 * The targets with their argv, or `failed_open` when an image could not be looked up and the
 * policy admits such a pod unmutated.
 */
async function targetsWithArgv(
  r: Review,
  positions: readonly ContainerPosition[],
): Promise<Target[] | 'failed_open'> {
  const found = await Promise.all(positions.map((position) => argvOf(r, position)));
  const failures = found.flatMap((f) => ('failure' in f ? [f.failure] : []));
  if (failures.length > 0) {
    switch (r.deps.missingCommand) {
      case 'deny':
        throw joined(failures);
      case 'admit':
        for (const f of failures) {
          r.warnings.push(
            `${f.message}; pod admitted without injection (--registry-failure-policy=admit)`,
          );
        }
        return 'failed_open';
      case 'warn':
        for (const f of failures) r.warnings.push(`${f.message}; left as it is`);
    }
  }
  return found.flatMap((f) => ('argv' in f ? [{ position: f.position, argv: f.argv }] : []));
}

async function gatherSources(r: Review): Promise<SourceIndex> {
  const names = sourcesOf(r.pod);
  if (names.length === 0 || !r.deps.sources) return new Map();
  return readSources(r.deps.sources, r.namespace, names, {
    keep: policedKeys(r.pod),
    signal: r.signal,
  });
}

/**
 * The settings containers give the init program themselves, policed like the annotations:
 * a denial, or the values the webhook writes over theirs.
 */
function policed(
  r: Review,
  settings: PodSettings,
  chosen: readonly ContainerPosition[],
  sources: SourceIndex,
) {
  const written = new Set(initEnv(settings, r.deps.config).map((e) => e.name));
  const scope = { sources, written, config: r.deps.config, warnings: r.warnings };
  const { problems, overrides } = policeOwnEnv(r.pod, chosen, scope);
  const [first] = problems;
  if (first)
    throw denial(
      first.code,
      problems.map((p) => p.message),
    );
  return overrides;
}

/** A container already running the init program that lacks its bundle: repaired, and said. */
function repaired(position: ContainerPosition, warnings: string[]): Target {
  warnings.push(
    `${describeContainer(position)} already runs the init program but lacked its bundle volume or mount (a copied manifest?): added`,
  );
  return { position, argv: [], repair: true };
}

async function decide(r: Review): Promise<Outcome> {
  const { pod, deps, warnings } = r;
  if (!injectionWanted(pod)) return { result: 'skipped', warnings };
  // Every annotation the webhook does not act on is told, whether or not the pod is injected.
  warnings.push(...annotationWarnings(pod.metadata?.annotations));
  const sources = await gatherSources(r);
  const detection = await detect(pod, sources, r.signal);
  warnings.push(...detection.warnings);
  const bankVaults = bankVaultsWrapped(pod);
  if (bankVaults.length > 0 && mayInject(pod, detection)) {
    throw denial(ErrorCode.BANK_VAULTS, bankVaults);
  }
  if (detection.problems.length > 0) {
    throw denial(ErrorCode.REFERENCE, detection.problems);
  }
  // Containers already running the init program are checked whatever else the pod holds.
  const injected = detection.containers
    .map((c) => c.position)
    .filter((p) => runsInitProgram(containerAt(pod, p)));
  if (!mayInject(pod, detection) && injected.length === 0) {
    return { result: 'unchanged', warnings };
  }
  const settings = podSettings(pod, deps.config, warnings, r.namespace);
  const files = filesPlan(pod, settings, detection.containers, warnings);
  const byReference = chooseTargets(detection, settings, warnings);
  const chosen = withReceivers(detection.containers, byReference, files);
  const repairs = injected.filter((p) => needsRepair(pod, containerAt(pod, p)));
  if (chosen.length === 0 && injected.length === 0) return { result: 'unchanged', warnings };
  deliveryNotFollowed(pod, settings, warnings);
  const clashes = nameClashes(pod, settings, [...chosen, ...repairs], deps.config);
  clashes.push(...secretFileClashes(pod, files));
  if (clashes.length > 0) throw denial(ErrorCode.NAME_CONFLICT, clashes);
  const overrides = policed(r, settings, [...chosen, ...repairs], sources);
  if (chosen.length === 0 && repairs.length === 0) return { result: 'unchanged', warnings };
  r.registrySkipVerify = settings.registrySkipVerify;
  const found = await targetsWithArgv(r, chosen);
  if (found === 'failed_open') return { result: 'failed_open', warnings };
  const targets = [...found, ...repairs.map((position) => repaired(position, warnings))].map(
    (t) => ({ ...t, overrides: overrides.get(positionId(t.position)) ?? [] }),
  );
  if (targets.length === 0) return { result: 'unchanged', warnings };
  const secretFiles = receiversAmong(files, targets);
  const plain = mutate(pod, { settings, targets, secretFiles }, deps.config);
  // With the sidecar, only a container whose environment needs the init program is wrapped.
  const needsEnv = (c: (typeof byReference)[number]): boolean =>
    c.hasReference || settings.fromPath !== undefined;
  const wrapped = byReference.filter(needsEnv).map((c) => c.position);
  const mutated = sidecarPod({ pod, mutated: plain, secretFiles, wrapped, settings }, r);
  return {
    result: 'mutated',
    pod: mutated,
    containers: targets.map((t) => t.position.name),
    login: { role: settings.role, authPath: settings.authPath, authMethod: settings.authMethod },
    warnings,
  };
}

/** The pod with the files' sidecar when `agent: sidecar` asks for one (sidecar.ts). */
function sidecarPod(
  p: {
    pod: Pod;
    mutated: Pod;
    secretFiles: SecretFilesPlan | undefined;
    wrapped: ContainerPosition[];
    settings: PodSettings;
  },
  r: Review,
): Pod {
  if (p.settings.agent === undefined || hasSidecar(p.pod)) return p.mutated;
  if (p.secretFiles === undefined || p.secretFiles.receivers.length === 0) {
    r.warnings.push(`annotation ${AGENT.key} ignored: no container receives secret files`);
    return p.mutated;
  }
  const plan = { files: p.secretFiles, wrapped: p.wrapped, settings: p.settings };
  return withSidecar(p.pod, p.mutated, plan, r.deps.config);
}

/** Decides what happens to `pod` (created in `namespace`). Never throws for a pod's content. */
export async function reviewPod(
  pod: Pod,
  namespace: string,
  deps: PipelineDeps,
  signal: AbortSignal = new AbortController().signal,
): Promise<Outcome> {
  const warnings: string[] = [];
  try {
    return told(await decide({ pod, namespace, deps, signal, warnings }));
  } catch (err) {
    if (err instanceof WebhookError) return told({ result: 'denied', error: err, warnings });
    throw err;
  }
}
