/**
 * The mutation of a pod (docs/webhook.md), as a pure function: `mutate(pod, plan, config)` returns a
 * new pod and never touches its input. The admission layer diffs the two into a JSONPatch.
 *
 * Idempotent by construction: a container that already runs the init program is not a target
 * (detect.ts), and the volumes, the copy init container and the status annotation are added only
 * when missing. Mutating a mutated pod therefore changes nothing (`reinvocationPolicy: IfNeeded`).
 * The delivery is the one the pod already has, if any (`podDelivery`), so a pod mutated under the
 * other `--delivery` keeps a volume, copy container and mounts that agree.
 */
import {
  COPY_CONTAINER_NAME,
  COPY_FLAG,
  COPY_TARGET,
  Env,
  INIT_PROGRAM,
  MOUNT_PATH,
  TLS_MOUNT_PATH,
  TLS_VOLUME_NAME,
  TOKEN_AUTH_MOUNT_PATH,
  TOKEN_FILE_NAME,
  TOKEN_MOUNT_PATH,
  TOKEN_VOLUME_NAME,
  VOLUME_NAME,
} from '../../../init-binary/src/contract/index.ts';
import { CA_FILE, SETTINGS, STATUS, STATUS_INJECTED } from './annotations.ts';
import { eachContainer, isInjected } from './detect.ts';
import { authMethodAsked, bringsToken } from './own-token.ts';
import { wrapProbes } from './probes.ts';
import { addSecretFiles, type SecretFilesPlan } from './secret-files.ts';
import type { PodSettings } from './annotations.ts';
import type { Delivery, InjectionConfig } from './settings.ts';
import {
  describeContainer,
  type Container,
  type ContainerPosition,
  type EnvVar,
  type Pod,
  type Volume,
  type VolumeMount,
} from './types.ts';

/** One container to inject and the command line it will run behind the init program. */
export interface Target {
  readonly position: ContainerPosition;
  /** The original command + args (from the image config when the container had no command). */
  readonly argv: readonly string[];
  /** Settings the webhook writes over the container's own (own-env.ts). */
  readonly overrides?: readonly EnvVar[];
  /** Already runs the init program (a copied manifest): only what it lacks is added. */
  readonly repair?: boolean;
}

export interface MutationPlan {
  readonly settings: PodSettings;
  readonly targets: readonly Target[];
  /** The secret files and the targets that receive them (secret-files.ts). */
  readonly secretFiles?: SecretFilesPlan | undefined;
}

/** The user the copy init container runs as when the pod names none (or names root). */
export const NOBODY = 65534;
/** Lifetime of the projected `token-audience` token; the kubelet rotates it before expiry. */
export const TOKEN_EXPIRATION_SECONDS = 3600;

/**
 * The init program's settings for this pod, in the table's order (annotations.ts), then the
 * webhook's own (`--init-log-level`). See docs/init-program.md.
 */
export function initEnv(settings: PodSettings, config: InjectionConfig): EnvVar[] {
  const env: EnvVar[] = [];
  const values = settings as Readonly<Record<string, unknown>>;
  for (const row of SETTINGS) {
    const setting = values[row.setting];
    if (row.env === undefined || setting === undefined) continue;
    const value = row.envValue ? row.envValue(setting as never) : String(setting);
    if (value !== undefined) env.push({ name: row.env, value });
  }
  if (config.initLogLevel && settings.logLevel === undefined) {
    env.push({ name: Env.LOG_LEVEL, value: config.initLogLevel });
  }
  return env;
}

const trimSlash = (p: string): string => p.replace(/(.)\/+$/, '$1');
/** Where the bundle lies in an image volume: the init image's /vault-inject directory. */
const IMAGE_SUBPATH = MOUNT_PATH.slice(1);

/**
 * The delivery the pod already has, if any. The bundle's layout differs by delivery (at the root
 * of an emptyDir the copy container fills; under vault-inject/ in an image volume of the whole
 * init image), so the volume, the copy container and every bundle mount must agree: a copy
 * container writing into a read-only image volume, or a mount with the wrong subPath, gives a pod
 * that never starts. A pod carries its delivery in its bundle volume, or, when that was dropped
 * (a copied manifest), in the bundle mounts of the containers that already run the init program.
 * A copy container alone does not decide: it is ours to drop.
 */
export function existingDelivery(pod: Pod): Delivery | undefined {
  const volume = pod.spec.volumes?.find((v) => v.name === VOLUME_NAME);
  if (volume?.image !== undefined) return 'image';
  if (volume?.emptyDir !== undefined) return 'emptydir';
  for (const { container } of eachContainer(pod)) {
    if (!isInjected(container)) continue;
    const bundle = (container.volumeMounts ?? []).find(
      (m) => m.name === VOLUME_NAME && trimSlash(String(m.mountPath)) === MOUNT_PATH,
    );
    if (bundle) return bundle.subPath === IMAGE_SUBPATH ? 'image' : 'emptydir';
  }
  return undefined;
}

/**
 * The delivery the pod gets: the one it already has (so reinvocation and re-applying keep
 * volume, copy container and mounts in agreement), else its `delivery` annotation, else
 * `--delivery` (both in `settings.delivery`).
 */
export function podDelivery(pod: Pod, settings: PodSettings): Delivery {
  return existingDelivery(pod) ?? settings.delivery;
}

/**
 * A container that already runs the init program but cannot start: the pod has no bundle volume
 * (or an emptyDir one nothing fills), or the container does not mount it at /vault-inject. A
 * manifest copied from a mutated pod, with the webhook's volumes or copy container dropped.
 */
export function needsRepair(pod: Pod, c: Container): boolean {
  const volume = pod.spec.volumes?.find((v) => v.name === VOLUME_NAME);
  const copy = pod.spec.initContainers?.some((i) => i.name === COPY_CONTAINER_NAME);
  const mounted = (c.volumeMounts ?? []).some(
    (m) => m.name === VOLUME_NAME && trimSlash(String(m.mountPath)) === MOUNT_PATH,
  );
  return !mounted || volume === undefined || (volume.emptyDir !== undefined && !copy);
}

function bundleVolume(config: InjectionConfig, delivery: Delivery): Volume {
  if (delivery === 'image') {
    return {
      name: VOLUME_NAME,
      image: { reference: config.initImage, pullPolicy: config.initImagePullPolicy },
    };
  }
  return {
    name: VOLUME_NAME,
    emptyDir: config.emptyDirMedium ? { medium: config.emptyDirMedium } : {},
  };
}

function volumes(settings: PodSettings, config: InjectionConfig, delivery: Delivery): Volume[] {
  const v = [bundleVolume(config, delivery)];
  if (settings.tlsSecret) {
    v.push({
      name: TLS_VOLUME_NAME,
      secret: { secretName: settings.tlsSecret, items: [{ key: CA_FILE, path: CA_FILE }] },
    });
  }
  if (settings.tokenAudience) {
    v.push({
      name: TOKEN_VOLUME_NAME,
      projected: {
        sources: [
          {
            serviceAccountToken: {
              audience: settings.tokenAudience,
              expirationSeconds: TOKEN_EXPIRATION_SECONDS,
              path: TOKEN_FILE_NAME,
            },
          },
        ],
      },
    });
  }
  return v;
}

export function mounts(settings: PodSettings, delivery: Delivery): VolumeMount[] {
  // The image volume holds the whole init image; the bundle is its /vault-inject directory.
  const bundle: VolumeMount =
    delivery === 'image'
      ? { name: VOLUME_NAME, mountPath: MOUNT_PATH, readOnly: true, subPath: IMAGE_SUBPATH }
      : { name: VOLUME_NAME, mountPath: MOUNT_PATH, readOnly: true };
  const m = [bundle];
  if (settings.tlsSecret)
    m.push({ name: TLS_VOLUME_NAME, mountPath: TLS_MOUNT_PATH, readOnly: true });
  if (settings.tokenAudience) {
    m.push({ name: TOKEN_VOLUME_NAME, mountPath: TOKEN_MOUNT_PATH, readOnly: true });
  }
  if (settings.tokenAuthMount) {
    // The pod's own volume, mounted once more where the init program reads its token file.
    m.push({
      name: settings.tokenAuthMount.volume,
      mountPath: TOKEN_AUTH_MOUNT_PATH,
      readOnly: true,
    });
  }
  return m;
}

/**
 * The copy init container; passes Pod Security `restricted`. Its user and group: the `run-as-user`
 * and `run-as-group` annotations (never 0), else the pod's.
 */
export function copyContainer(
  pod: Pod,
  config: InjectionConfig,
  settings?: PodSettings,
): Container {
  const podUser = settings?.runAsUser ?? pod.spec.securityContext?.runAsUser;
  const podGroup = settings?.runAsGroup ?? pod.spec.securityContext?.runAsGroup;
  // Run as the app's user so the copied files are its own; root is not allowed by `restricted`.
  const runAsUser = podUser !== undefined && podUser > 0 ? podUser : NOBODY;
  const runAsGroup = podGroup !== undefined && podGroup > 0 ? podGroup : undefined;
  return {
    name: COPY_CONTAINER_NAME,
    image: config.initImage,
    imagePullPolicy: config.initImagePullPolicy,
    command: [INIT_PROGRAM, COPY_FLAG, COPY_TARGET],
    volumeMounts: [{ name: VOLUME_NAME, mountPath: COPY_TARGET }],
    resources: structuredClone(config.copyResources),
    securityContext: {
      runAsNonRoot: true,
      runAsUser,
      ...(runAsGroup === undefined ? {} : { runAsGroup }),
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    },
  };
}

function injectContainer(c: Container, target: Target, env: EnvVar[], m: VolumeMount[]): void {
  if (!target.repair) {
    c.command = [INIT_PROGRAM];
    c.args = [...target.argv];
  }
  // A mount is there when its volume is mounted at its path (a clash was denied before).
  const there = new Set((c.volumeMounts ?? []).map((v) => `${v.name}\0${trimSlash(v.mountPath)}`));
  const newMounts = m.filter((v) => !there.has(`${v.name}\0${v.mountPath}`)).map((v) => ({ ...v }));
  if (newMounts.length > 0) c.volumeMounts = [...(c.volumeMounts ?? []), ...newMounts];
  // A VAULT_* setting the container sets itself (e.g. VAULT_TOKEN=vault:login) is kept as it is,
  // unless the webhook overrides it: then each entry of that name gets the webhook's value, or,
  // when it came through envFrom, an entry is added (env wins over envFrom).
  const over = new Map((target.overrides ?? []).map((e) => [e.name, e.value]));
  const kept = (c.env ?? []).map((e) =>
    over.has(e.name) ? { name: e.name, value: over.get(e.name) } : e,
  );
  const own = new Set(kept.map((e) => e.name));
  const added = [...env, ...(target.overrides ?? [])].filter(
    (e) => !own.has(e.name) && own.add(e.name),
  );
  if (added.length > 0 || over.size > 0) c.env = [...kept, ...added.map((e) => ({ ...e }))];
}

function isCopyContainer(c: Container): boolean {
  const [program, flag, target] = c.command ?? [];
  return program === INIT_PROGRAM && flag === COPY_FLAG && target === COPY_TARGET;
}

type Fields = Record<string, unknown> | undefined;

/** The audiences of the service-account tokens a projected volume holds. */
function audiences(v: Volume): unknown[] {
  const sources = (v.projected as Fields)?.sources;
  if (!Array.isArray(sources)) return [];
  return sources.map((s: Fields) => (s?.serviceAccountToken as Fields)?.audience);
}

/** A volume under one of our names already in the pod that does the job ours would do. */
function reusable(existing: Volume, ours: Volume, copied: boolean): boolean {
  switch (ours.name) {
    case VOLUME_NAME:
      // An image volume holds the bundle; an emptyDir does once a copy container fills it.
      return existing.image !== undefined || (existing.emptyDir !== undefined && copied);
    case TLS_VOLUME_NAME:
      return (existing.secret as Fields)?.secretName === (ours.secret as Fields)?.secretName;
    default:
      return audiences(ours).every((a) => audiences(existing).includes(a));
  }
}

function mountClashes(
  c: Container,
  where: ContainerPosition,
  ours: readonly VolumeMount[],
): string[] {
  const out: string[] = [];
  const label = describeContainer(where);
  for (const m of c.volumeMounts ?? []) {
    for (const o of ours) {
      const samePath = trimSlash(String(m.mountPath)) === o.mountPath;
      // The pod's own volume (token-auth-mount) may be mounted elsewhere too.
      if (m.name === o.name && !samePath && o.mountPath !== TOKEN_AUTH_MOUNT_PATH) {
        out.push(
          `${label} already mounts volume "${m.name}" at ${m.mountPath}, where the webhook mounts it at ${o.mountPath}; rename or move it`,
        );
      } else if (m.name !== o.name && samePath) {
        out.push(
          `${label} already mounts volume "${m.name}" at ${m.mountPath}, where the webhook mounts "${o.name}"; move it`,
        );
      }
    }
  }
  return out;
}

/**
 * What the pod already holds under one of the webhook's names (volume, copy init container, mount
 * path) that is not what the webhook would have put there. `mutate` reuses what it finds under its
 * names, so that re-applying a mutated pod changes nothing; reusing something else would give
 * containers that cannot start (no init program in the volume, a copy container that copies
 * nothing) or a pod the API server rejects (a mount path used twice). Each clash denies the pod.
 */
export function nameClashes(
  pod: Pod,
  settings: PodSettings,
  targets: readonly ContainerPosition[],
  config: InjectionConfig,
): string[] {
  const out: string[] = [];
  const copy = (pod.spec.initContainers ?? []).find((c) => c.name === COPY_CONTAINER_NAME);
  if (copy && !isCopyContainer(copy)) {
    out.push(
      `the pod already has an init container "${COPY_CONTAINER_NAME}" that the webhook did not write; rename it`,
    );
  }
  const copied = settings.delivery === 'emptydir' || (copy !== undefined && isCopyContainer(copy));
  const delivery = podDelivery(pod, settings);
  const ours = volumes(settings, config, delivery);
  for (const v of pod.spec.volumes ?? []) {
    const mine = ours.find((o) => o.name === v.name);
    if (mine && !reusable(v, mine, copied)) {
      const kind = Object.keys(v).find((k) => k !== 'name') ?? 'no source';
      out.push(
        `the pod already has a volume "${v.name}" that the webhook did not write (${kind}); rename it`,
      );
    }
  }
  const m = mounts(settings, delivery);
  for (const t of targets) {
    const c = pod.spec[t.list]?.[t.index];
    if (c) out.push(...mountClashes(c, t, m));
  }
  return out;
}

export function mutate(pod: Pod, plan: MutationPlan, config: InjectionConfig): Pod {
  // A JSON round trip: the pod is JSON, and this is several times faster than structuredClone.
  const out = JSON.parse(JSON.stringify(pod)) as Pod;
  if (plan.targets.length === 0) return out;
  const env = initEnv(plan.settings, config);
  const tokenEnv = authMethodAsked(pod, config)
    ? env
    : env.filter((e) => e.name !== Env.AUTH_METHOD);
  const delivery = podDelivery(pod, plan.settings);
  const m = mounts(plan.settings, delivery);
  for (const target of plan.targets) {
    const c = out.spec[target.position.list]?.[target.position.index];
    if (!c) continue;
    injectContainer(c, target, bringsToken(c) ? tokenEnv : env, m);
    if (plan.settings.mutateProbes && !target.repair) wrapProbes(c);
  }
  if (plan.secretFiles) addSecretFiles(out, plan.secretFiles);
  const present = new Set((out.spec.volumes ?? []).map((v) => v.name));
  const missing = volumes(plan.settings, config, delivery).filter((v) => !present.has(v.name));
  if (missing.length > 0) out.spec.volumes = [...(out.spec.volumes ?? []), ...missing];
  if (delivery === 'image') {
    dropCopyContainer(out);
  } else {
    copyFirst(out, pod, config, plan.settings);
  }
  out.metadata ??= {};
  out.metadata.annotations = { ...out.metadata.annotations, [STATUS.key]: STATUS_INJECTED };
  return out;
}

/**
 * Image delivery copies nothing, and an image volume is read-only: a copy container of ours left
 * in the pod (a manifest copied from a pod mutated under emptyDir delivery) would fail and hold
 * the pod in Init forever. It is removed; the user's init containers keep their order.
 */
function dropCopyContainer(out: Pod): void {
  const init = out.spec.initContainers ?? [];
  const rest = init.filter((c) => !(c.name === COPY_CONTAINER_NAME && isCopyContainer(c)));
  if (rest.length === init.length) return;
  if (rest.length > 0) out.spec.initContainers = rest;
  else delete out.spec.initContainers;
}

/** The copy container first in `initContainers`: added when missing, moved when needed. */
function copyFirst(out: Pod, pod: Pod, config: InjectionConfig, settings: PodSettings): void {
  const init = out.spec.initContainers ?? [];
  const at = init.findIndex((c) => c.name === COPY_CONTAINER_NAME);
  if (at === -1) {
    out.spec.initContainers = [copyContainer(pod, config, settings), ...init];
  } else if (at > 0 && init.slice(0, at).some(isInjected)) {
    // Init containers run in order: one that runs the init program must find the bundle copied.
    // (Another webhook may have put an init container in front of ours before a reinvocation.)
    out.spec.initContainers = [init[at] as Container, ...init.filter((_, i) => i !== at)];
  }
}
