/**
 * `vault-inject.dev/agent: sidecar` (docs/configuration.md#sidecar): the secret files are rendered
 * and refreshed by one native sidecar (an init container with `restartPolicy: Always`) running the
 * init program's sidecar mode from the init image, instead of by the init program in front of each
 * app. Each receiving container keeps its own memory volume, mounted into the sidecar at
 * SIDECAR_FILES_ROOT/N, so containers still never see each other's files. A container whose only
 * need is files is left as the pod had it (its command untouched); one with env references is
 * still wrapped, without files. The sidecar's startup probe passes after the first render, and
 * Kubernetes starts the containers after it only then. Pure.
 */
import {
  Env,
  INIT_PROGRAM,
  SIDECAR_CONTAINER_NAME,
  SIDECAR_DIRS_ENV,
  SIDECAR_FILES_ROOT,
  SIDECAR_FLAG,
  SIDECAR_READY_FLAG,
  SIDECAR_STATE_DIR,
  SIDECAR_STATE_VOLUME,
  VOLUME_NAME,
  COPY_CONTAINER_NAME,
  encodeSecretFiles,
  secretFilesVolumeName,
} from '../../../init-binary/src/contract/index.ts';
import type { PodSettings } from './annotations.ts';
import { isInjected } from './detect.ts';
import { copyContainer, initEnv, mounts, podDelivery } from './mutate.ts';
import type { SecretFilesPlan } from './secret-files.ts';
import type { InjectionConfig } from './settings.ts';
import type { Container, ContainerPosition, Pod } from './types.ts';

/** Small: the sidecar holds a Node process and the pod's rendered files. */
const SIDECAR_RESOURCES = {
  requests: { cpu: '10m', memory: '64Mi' },
  limits: { memory: '192Mi' },
};
/** The startup probe: every second, for as long as a slow Vault may take (10 minutes). */
const PROBE_PERIOD_SECONDS = 1;
const PROBE_FAILURES = 600;

export interface SidecarPlan {
  readonly files: SecretFilesPlan;
  /** The containers with env references: still wrapped by the init program. */
  readonly wrapped: readonly ContainerPosition[];
  readonly settings: PodSettings;
}

const byName = (pod: Pod, r: ContainerPosition): Container | undefined =>
  pod.spec[r.list]?.find((c) => c.name === r.name);

/**
 * `mutated` (mutate.ts's output for `pod`, files planned as without a sidecar) turned into the
 * sidecar form: file-only receivers restored with only their files mount, wrapped ones without
 * the templates, the bundle dropped when nothing runs it, the sidecar added.
 */
export function withSidecar(
  pod: Pod,
  mutated: Pod,
  plan: SidecarPlan,
  config: InjectionConfig,
): Pod {
  const out = mutated;
  const dir = plan.files.spec.dir;
  plan.files.receivers.forEach((r) => {
    const list = out.spec[r.list] ?? [];
    const at = list.findIndex((c) => c.name === r.name);
    const original = byName(pod, r);
    if (at === -1 || original === undefined) return;
    const mount = { name: secretFilesVolumeName(r.list, r.index), mountPath: dir, readOnly: true };
    const wrapped = plan.wrapped.some((w) => w.name === r.name);
    const c = wrapped
      ? (list[at] as Container)
      : (JSON.parse(JSON.stringify(original)) as Container);
    c.volumeMounts = [...(c.volumeMounts ?? []).filter((m) => m.mountPath !== dir), mount];
    if (c.env !== undefined) c.env = c.env.filter((e) => e.name !== Env.SECRET_FILES);
    if (c.env?.length === 0) delete c.env;
    list[at] = c;
  });
  dropUnusedBundle(out);
  out.spec.volumes = [
    ...(out.spec.volumes ?? []),
    { name: SIDECAR_STATE_VOLUME, emptyDir: { medium: 'Memory', sizeLimit: '1Mi' } },
  ];
  const init = out.spec.initContainers ?? [];
  const copyAt = init.findIndex((c) => c.name === COPY_CONTAINER_NAME);
  init.splice(copyAt + 1, 0, sidecarContainer(pod, plan, config));
  out.spec.initContainers = init;
  return out;
}

/** No container runs the init program in front of an app: no bundle volume, no copy container. */
function dropUnusedBundle(out: Pod): void {
  const all = [...(out.spec.initContainers ?? []), ...out.spec.containers];
  if (all.some((c) => c.name !== COPY_CONTAINER_NAME && isInjected(c))) return;
  out.spec.volumes = (out.spec.volumes ?? []).filter((v) => v.name !== VOLUME_NAME);
  const init = (out.spec.initContainers ?? []).filter((c) => c.name !== COPY_CONTAINER_NAME);
  if (init.length > 0) out.spec.initContainers = init;
  else delete out.spec.initContainers;
}

/** The sidecar: the init program's sidecar mode from the init image, restricted, small. */
export function sidecarContainer(pod: Pod, plan: SidecarPlan, config: InjectionConfig): Container {
  const { files, settings } = plan;
  const dirs = files.receivers.map((_, n) => `${SIDECAR_FILES_ROOT}/${n}`);
  // The Vault settings and mounts every injected container gets, but the bundle's: the sidecar
  // runs from the init image itself.
  const own = mounts(settings, podDelivery(pod, settings)).filter((m) => m.name !== VOLUME_NAME);
  const copy = copyContainer(pod, config, settings);
  return {
    name: SIDECAR_CONTAINER_NAME,
    image: config.initImage,
    imagePullPolicy: config.initImagePullPolicy,
    command: [INIT_PROGRAM, SIDECAR_FLAG],
    restartPolicy: 'Always',
    env: [
      ...initEnv(settings, config),
      { name: Env.SECRET_FILES, value: encodeSecretFiles(files.spec) },
      { name: SIDECAR_DIRS_ENV, value: dirs.join(':') },
    ],
    volumeMounts: [
      ...own,
      ...files.receivers.map((r, n) => ({
        name: secretFilesVolumeName(r.list, r.index),
        mountPath: dirs[n] as string,
      })),
      { name: SIDECAR_STATE_VOLUME, mountPath: SIDECAR_STATE_DIR },
    ],
    startupProbe: {
      exec: { command: [INIT_PROGRAM, SIDECAR_READY_FLAG] },
      periodSeconds: PROBE_PERIOD_SECONDS,
      failureThreshold: PROBE_FAILURES,
    },
    resources: structuredClone(SIDECAR_RESOURCES),
    securityContext: copy.securityContext,
  };
}
