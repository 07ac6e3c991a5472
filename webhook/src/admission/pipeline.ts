/**
 * One pod through the webhook: opt-out, detection, settings, command lookup, mutation. Shared by
 * the admission handler and the offline preview, which differ only in their readers and policy.
 * All I/O (Secret/ConfigMap reads, registry) happens before the pure `mutate`.
 */
import { ErrorCode, WebhookError } from '../errors.ts';
import { CONTAINERS, FROM_PATH, readAnnotation } from '../mutation/annotations.ts';
import { detect, sourcesOf, type Detection } from '../mutation/detect.ts';
import { mutate, nameClashes, type Target } from '../mutation/mutate.ts';
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
      if (!known.has(n)) warnings.push(`annotation ${CONTAINERS.key} names no container "${n}"`);
    }
    return candidates.filter((c) => names.has(c.position.name));
  }
  // `from-path` and `inject: true` reach every app container; init containers only by reference.
  const all = settings.forceInject || settings.fromPath !== undefined;
  return candidates.filter((c) => c.hasReference || (all && c.position.list === 'containers'));
}

/** Cheap test before reading annotations: a pod with nothing to inject is not validated. */
function mayInject(pod: Pod, detection: Detection): boolean {
  if (detection.containers.some((c) => c.hasReference)) return true;
  const an = pod.metadata?.annotations;
  return (
    readAnnotation(an, FROM_PATH) !== undefined ||
    readAnnotation(an, CONTAINERS) !== undefined ||
    injectAnnotation(pod) === true
  );
}

function containerAt(pod: Pod, p: ContainerPosition): Container {
  return pod.spec[p.list]?.[p.index] as Container;
}

/** Kubernetes treats an empty list like an absent one, for `command` and `args` alike. */
const isSet = (list: readonly string[] | undefined): list is string[] =>
  list !== undefined && list.length > 0;

function lookupRequest(
  pod: Pod,
  namespace: string,
  position: ContainerPosition,
  c: Container,
): ImageCommandRequest {
  const { spec } = pod;
  const legacyAccount = typeof spec.serviceAccount === 'string' ? spec.serviceAccount : '';
  return {
    image: c.image ?? '',
    namespace,
    imagePullSecrets: (spec.imagePullSecrets ?? []).map((s) => s?.name).filter((n) => !!n),
    serviceAccountName: spec.serviceAccountName || legacyAccount || 'default',
    placement: { nodeSelector: spec.nodeSelector, affinity: spec.affinity } as PodPlacement,
    container: position,
  };
}

/** A container's argv, or the lookup failure the policy decides about. */
type Found =
  | { readonly position: ContainerPosition; readonly argv: string[] }
  | { readonly position: ContainerPosition; readonly failure: WebhookError };

async function argvOf(
  pod: Pod,
  namespace: string,
  position: ContainerPosition,
  deps: PipelineDeps,
  signal: AbortSignal,
): Promise<Found> {
  const c = containerAt(pod, position);
  if (isSet(c.command)) return { position, argv: [...c.command, ...(c.args ?? [])] };
  let image: ImageCommand;
  try {
    image = await deps.images.lookup(lookupRequest(pod, namespace, position, c), signal);
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

function joined(failures: readonly WebhookError[]): WebhookError {
  const [first] = failures;
  if (failures.length === 1 && first) return first;
  return new WebhookError(ErrorCode.NO_COMMAND, failures.map((f) => f.message).join('; '), {
    cause: first,
  });
}

/**
 * The targets with their argv, or `failed_open` when an image could not be looked up and the
 * policy admits such a pod unmutated.
 */
async function targetsWithArgv(
  pod: Pod,
  namespace: string,
  positions: readonly ContainerPosition[],
  deps: PipelineDeps,
  warnings: string[],
  signal: AbortSignal,
): Promise<Target[] | 'failed_open'> {
  const found = await Promise.all(
    positions.map((position) => argvOf(pod, namespace, position, deps, signal)),
  );
  const failures = found.flatMap((f) => ('failure' in f ? [f.failure] : []));
  if (failures.length > 0) {
    switch (deps.missingCommand) {
      case 'deny':
        throw joined(failures);
      case 'admit':
        for (const f of failures) {
          warnings.push(
            `${f.message}; pod admitted without injection (--registry-failure-policy=admit)`,
          );
        }
        return 'failed_open';
      case 'warn':
        for (const f of failures) warnings.push(`${f.message}; left as it is`);
    }
  }
  return found.flatMap((f) => ('argv' in f ? [{ position: f.position, argv: f.argv }] : []));
}

async function gatherSources(
  pod: Pod,
  namespace: string,
  deps: PipelineDeps,
): Promise<SourceIndex> {
  const names = sourcesOf(pod);
  if (names.length === 0 || !deps.sources) return new Map();
  return readSources(deps.sources, namespace, names);
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
    if (!injectionWanted(pod)) return { result: 'skipped', warnings };
    const detection = detect(pod, await gatherSources(pod, namespace, deps));
    warnings.push(...detection.warnings);
    if (detection.problems.length > 0) {
      throw new WebhookError(ErrorCode.REFERENCE, detection.problems.join('; '));
    }
    if (!mayInject(pod, detection)) return { result: 'unchanged', warnings };
    const settings = podSettings(pod, deps.config, warnings);
    const chosen = chooseTargets(detection, settings, warnings).map((c) => c.position);
    if (chosen.length === 0) return { result: 'unchanged', warnings };
    const clashes = nameClashes(pod, settings, chosen, deps.config);
    if (clashes.length > 0) throw new WebhookError(ErrorCode.NAME_CONFLICT, clashes.join('; '));
    const targets = await targetsWithArgv(pod, namespace, chosen, deps, warnings, signal);
    if (targets === 'failed_open') return { result: 'failed_open', warnings };
    if (targets.length === 0) return { result: 'unchanged', warnings };
    const mutated = mutate(pod, { settings, targets }, deps.config);
    return {
      result: 'mutated',
      pod: mutated,
      containers: targets.map((t) => t.position.name),
      login: { role: settings.role, authPath: settings.authPath, authMethod: settings.authMethod },
      warnings,
    };
  } catch (err) {
    if (err instanceof WebhookError) return { result: 'denied', error: err, warnings };
    throw err;
  }
}
