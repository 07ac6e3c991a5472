/**
 * One pod through the webhook: opt-out, detection, settings, command lookup, mutation. Shared by
 * the admission handler and the offline preview, which differ only in their readers and policy.
 * All I/O (Secret/ConfigMap reads, registry) happens before the pure `mutate`.
 */
import { ErrorCode, WebhookError } from '../errors.ts';
import { CONTAINERS, FROM_PATH, INJECT, readAnnotation } from '../mutation/annotations.ts';
import { detect, sourcesOf, type Detection } from '../mutation/detect.ts';
import { mutate, type Target } from '../mutation/mutate.ts';
import { injectionWanted, podSettings, type PodSettings } from '../mutation/pod-settings.ts';
import type { InjectionConfig } from '../mutation/settings.ts';
import { readSources, type SourceIndex, type SourceReader } from '../mutation/sources.ts';
import type { Container, ContainerPosition, Pod } from '../mutation/types.ts';
import type { ImageConfigLookup } from '../registry/image-config.ts';

export interface PipelineDeps {
  readonly config: InjectionConfig;
  /** Reads Secrets/ConfigMaps behind valueFrom/envFrom; absent: such references go undetected. */
  readonly sources?: SourceReader;
  readonly images: ImageConfigLookup;
  /** `deny` in the webhook; `warn` in the offline preview (the container is left as it is). */
  readonly missingCommand: 'deny' | 'warn';
}

export type Outcome =
  | { readonly result: 'skipped'; readonly warnings: string[] }
  | { readonly result: 'unchanged'; readonly warnings: string[] }
  | {
      readonly result: 'mutated';
      readonly pod: Pod;
      readonly containers: readonly string[];
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
    readAnnotation(an, INJECT)?.value.trim().toLowerCase() === 'true'
  );
}

function containerAt(pod: Pod, p: ContainerPosition): Container {
  return pod.spec[p.list]?.[p.index] as Container;
}

async function argvOf(
  pod: Pod,
  namespace: string,
  position: ContainerPosition,
  deps: PipelineDeps,
  signal: AbortSignal,
): Promise<string[]> {
  const c = containerAt(pod, position);
  if (c.command !== undefined && c.command.length > 0) return [...c.command, ...(c.args ?? [])];
  const image = await deps.images.lookup(
    {
      image: c.image ?? '',
      namespace,
      imagePullSecrets: (pod.spec.imagePullSecrets ?? []).map((s) => s.name),
      container: position,
    },
    signal,
  );
  // Kubernetes: without `command`, the image's ENTRYPOINT runs with `args`, or else its CMD.
  return [...image.entrypoint, ...(c.args ?? image.cmd)];
}

async function targetsWithArgv(
  pod: Pod,
  namespace: string,
  positions: readonly ContainerPosition[],
  deps: PipelineDeps,
  warnings: string[],
  signal: AbortSignal,
): Promise<Target[]> {
  const found = await Promise.all(
    positions.map(async (position): Promise<Target | undefined> => {
      try {
        return { position, argv: await argvOf(pod, namespace, position, deps, signal) };
      } catch (err) {
        if (
          deps.missingCommand === 'warn' &&
          err instanceof WebhookError &&
          err.code === ErrorCode.NO_COMMAND
        ) {
          warnings.push(`${err.message}; left as it is`);
          return undefined;
        }
        throw err;
      }
    }),
  );
  return found.filter((t): t is Target => t !== undefined);
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
  if (!injectionWanted(pod)) return { result: 'skipped', warnings };
  try {
    const detection = detect(pod, await gatherSources(pod, namespace, deps));
    warnings.push(...detection.warnings);
    if (detection.problems.length > 0) {
      throw new WebhookError(ErrorCode.REFERENCE, detection.problems.join('; '));
    }
    if (!mayInject(pod, detection)) return { result: 'unchanged', warnings };
    const settings = podSettings(pod, deps.config, warnings);
    const chosen = chooseTargets(detection, settings, warnings).map((c) => c.position);
    if (chosen.length === 0) return { result: 'unchanged', warnings };
    const targets = await targetsWithArgv(pod, namespace, chosen, deps, warnings, signal);
    if (targets.length === 0) return { result: 'unchanged', warnings };
    const mutated = mutate(pod, { settings, targets }, deps.config);
    return {
      result: 'mutated',
      pod: mutated,
      containers: targets.map((t) => t.position.name),
      warnings,
    };
  } catch (err) {
    if (err instanceof WebhookError) return { result: 'denied', error: err, warnings };
    throw err;
  }
}
