/**
 * Runs a container of a STORED pod the way a kubelet and a container runtime would, without
 * either: a chroot in new mount and PID namespaces (`unshare --mount --pid --fork`), as the pod's
 * UID/GID, with
 *   - the root file system: `busybox` (a static busybox with its applets in /bin) or `scratch`
 *     (nothing but one static binary, `/sh`, and the mount points), read-only like
 *     `readOnlyRootFilesystem: true`;
 *   - the pod's volumes, as far as the container mounts them: `emptyDir` (a directory shared by
 *     the pod's containers), `projected` service-account tokens (a TokenRequest token for the
 *     audience the spec names, the kubelet's default being the apiserver's issuer), the
 *     `kube-root-ca.crt` ConfigMap and the namespace from the downward API; read-only where the
 *     mount says so (bind mount, then `remount,bind,ro`);
 *   - the environment a kubelet builds: `envFrom`, then `env` with `valueFrom` Secret/ConfigMap
 *     keys read from the apiserver and `$(VAR)` expansion, plus PATH and HOSTNAME;
 *   - `command` + `args` from the spec, `$(VAR)`-expanded;
 *   - a fresh /proc and /dev/{null,zero,random,urandom}.
 *
 * The init image is the bundle on scratch: the copy init container runs in a root holding only
 * the bundle at /vault-inject (BUNDLE_DIR, `make bundle`), exactly as its image would.
 * `runPod` runs the init containers, then the named container, like a kubelet.
 */
import type {
  CoreV1Api,
  V1Container,
  V1EnvVar,
  V1Pod,
  V1Volume,
  V1VolumeProjection,
} from '@kubernetes/client-node';
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

export type RootFs = 'busybox' | 'scratch';

export interface ContainerResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface PodRunContext {
  readonly core: CoreV1Api;
  /** Issues a TokenRequest token for the pod's service account. */
  readonly token: (
    namespace: string,
    sa: string,
    audience: string,
    seconds: number,
  ) => Promise<string>;
  /** The apiserver's CA (for the kube-root-ca.crt projection). */
  readonly caPem: string;
  /** The apiserver's default token audience (its issuer). */
  readonly defaultAudience: string;
  /** The init image's content: the bundle directory mounted at /vault-inject in its root. */
  readonly bundleDir: string;
  readonly busybox: string;
}

export interface RunOptions {
  readonly rootfs: RootFs;
  readonly timeoutMs?: number;
}

const BUSYBOX_APPLETS = ['sh', 'env', 'cat', 'echo', 'ls', 'id', 'printenv', 'sleep', 'true'];

/** `$(VAR)` expansion as the kubelet does it: defined names expand, `$$` escapes, others stay. */
export function expand(text: string, vars: ReadonlyMap<string, string>): string {
  return text.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (m, name: string | undefined) => {
    if (m === '$$') return '$';
    return name !== undefined && vars.has(name) ? (vars.get(name) as string) : m;
  });
}

function decodeSecret(data: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(data ?? {}))
    out[k] = Buffer.from(v, 'base64').toString('utf8');
  return out;
}

async function source(
  core: CoreV1Api,
  namespace: string,
  kind: 'secret' | 'configMap',
  name: string,
): Promise<Record<string, string>> {
  if (kind === 'secret') {
    return decodeSecret((await core.readNamespacedSecret({ name, namespace })).data);
  }
  return { ...(await core.readNamespacedConfigMap({ name, namespace })).data };
}

async function envValue(
  core: CoreV1Api,
  pod: V1Pod,
  e: V1EnvVar,
  vars: ReadonlyMap<string, string>,
): Promise<string | undefined> {
  const namespace = pod.metadata?.namespace ?? 'default';
  if (e.valueFrom === undefined) return expand(e.value ?? '', vars);
  const { secretKeyRef, configMapKeyRef, fieldRef } = e.valueFrom;
  if (secretKeyRef)
    return (await source(core, namespace, 'secret', secretKeyRef.name ?? ''))[secretKeyRef.key];
  if (configMapKeyRef) {
    return (await source(core, namespace, 'configMap', configMapKeyRef.name ?? ''))[
      configMapKeyRef.key
    ];
  }
  if (fieldRef?.fieldPath === 'metadata.name') return pod.metadata?.name;
  if (fieldRef?.fieldPath === 'metadata.namespace') return namespace;
  throw new Error(`env ${e.name}: valueFrom not supported by the test runner`);
}

/** The environment a kubelet gives the container: envFrom first, then env (later wins). */
export async function containerEnv(
  core: CoreV1Api,
  pod: V1Pod,
  container: V1Container,
): Promise<Map<string, string>> {
  const namespace = pod.metadata?.namespace ?? 'default';
  const vars = new Map<string, string>();
  for (const from of container.envFrom ?? []) {
    const data = from.secretRef
      ? await source(core, namespace, 'secret', from.secretRef.name ?? '')
      : await source(core, namespace, 'configMap', from.configMapRef?.name ?? '');
    for (const [k, v] of Object.entries(data)) vars.set(`${from.prefix ?? ''}${k}`, v);
  }
  for (const e of container.env ?? []) {
    const value = await envValue(core, pod, e, vars);
    if (value !== undefined) vars.set(e.name, value);
  }
  return vars;
}

async function makeRoot(dir: string, rootfs: RootFs, busybox: string): Promise<void> {
  for (const d of ['proc', 'dev', 'tmp']) await mkdir(path.join(dir, d), { recursive: true });
  for (const f of ['null', 'zero', 'random', 'urandom'])
    await writeFile(path.join(dir, 'dev', f), '');
  if (rootfs === 'busybox') {
    await mkdir(path.join(dir, 'bin'));
    copyFileSync(busybox, path.join(dir, 'bin/busybox'));
    for (const applet of BUSYBOX_APPLETS) await symlink('busybox', path.join(dir, 'bin', applet));
  } else {
    // One static binary and nothing else: no libc, no loader, no /bin.
    copyFileSync(busybox, path.join(dir, 'sh'));
  }
}

interface Mount {
  readonly source: string;
  readonly target: string;
  readonly readOnly: boolean;
}

interface PodVolumes {
  /** Host directory of each volume, by name. */
  readonly dirs: Map<string, string>;
}

/** The CA and namespace files of the ServiceAccount plugin's `kube-api-access-*` volume. */
async function projectedFiles(
  ctx: PodRunContext,
  s: V1VolumeProjection,
  namespace: string,
  dir: string,
): Promise<void> {
  for (const item of s.configMap?.items ?? []) {
    if (s.configMap?.name === 'kube-root-ca.crt' && item.key === 'ca.crt') {
      await writeFile(path.join(dir, item.path), ctx.caPem, { mode: 0o644 });
    }
  }
  for (const item of s.downwardAPI?.items ?? []) {
    if (item.fieldRef?.fieldPath === 'metadata.namespace') {
      await writeFile(path.join(dir, item.path), namespace, { mode: 0o644 });
    }
  }
}

async function projectedVolume(
  ctx: PodRunContext,
  pod: V1Pod,
  volume: V1Volume,
  dir: string,
): Promise<void> {
  const namespace = pod.metadata?.namespace ?? 'default';
  const sa = pod.spec?.serviceAccountName ?? 'default';
  for (const s of volume.projected?.sources ?? []) {
    const t = s.serviceAccountToken;
    if (t) {
      const audience = t.audience ?? ctx.defaultAudience;
      const token = await ctx.token(namespace, sa, audience, t.expirationSeconds ?? 3600);
      await writeFile(path.join(dir, t.path), token, { mode: 0o644 });
    }
    await projectedFiles(ctx, s, namespace, dir);
  }
}

/** Creates the pod's volumes once (emptyDirs are shared by all its containers). */
export async function podVolumes(ctx: PodRunContext, pod: V1Pod, dir: string): Promise<PodVolumes> {
  const dirs = new Map<string, string>();
  for (const volume of pod.spec?.volumes ?? []) {
    const vdir = path.join(dir, 'volumes', volume.name);
    await mkdir(vdir, { recursive: true });
    if (volume.emptyDir) await chmod(vdir, 0o777);
    else if (volume.projected) await projectedVolume(ctx, pod, volume, vdir);
    else throw new Error(`volume ${volume.name}: kind not supported by the test runner`);
    dirs.set(volume.name, vdir);
  }
  return { dirs };
}

function idsOf(pod: V1Pod, container: V1Container): { uid: number; gid: number } {
  const sc = container.securityContext;
  const psc = pod.spec?.securityContext;
  return {
    uid: sc?.runAsUser ?? psc?.runAsUser ?? 0,
    gid: sc?.runAsGroup ?? psc?.runAsGroup ?? 0,
  };
}

/**
 * The shell run inside `unshare`: mounts, then `exec chroot`, so the container's first process
 * is PID 1 of its PID namespace, as in a pod.
 */
function setupScript(root: string, mounts: readonly Mount[], uid: number, gid: number): string {
  const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
  // The root first (readOnlyRootFilesystem: a bind of itself, remounted ro), then the mounts on
  // top of it; binding the root last would hide them.
  const lines = [
    'set -e',
    `/usr/bin/mount --bind ${q(root)} ${q(root)}`,
    `/usr/bin/mount -o remount,bind,ro ${q(root)}`,
    `/usr/bin/mount -t proc proc ${q(path.join(root, 'proc'))}`,
  ];
  for (const f of ['null', 'zero', 'random', 'urandom']) {
    lines.push(`/usr/bin/mount --bind /dev/${f} ${q(path.join(root, 'dev', f))}`);
  }
  for (const m of mounts) {
    const target = path.join(root, m.target);
    lines.push(`/usr/bin/mount --bind ${q(m.source)} ${q(target)}`);
    if (m.readOnly) lines.push(`/usr/bin/mount -o remount,bind,ro ${q(target)}`);
  }
  lines.push(`exec /usr/sbin/chroot --userspec=${uid}:${gid} --groups=${gid} ${q(root)} "$@"`);
  return lines.join('\n');
}

export interface ContainerSpec {
  readonly root: string;
  readonly mounts: readonly Mount[];
  readonly argv: readonly string[];
  readonly env: ReadonlyMap<string, string>;
  readonly uid: number;
  readonly gid: number;
  readonly timeoutMs: number;
}

/** Runs argv in the prepared root; resolves with its exit status and output. */
export function runInRoot(spec: ContainerSpec): Promise<ContainerResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      '/usr/bin/unshare',
      [
        '--mount',
        '--pid',
        '--fork',
        '--kill-child',
        '/bin/sh',
        '-c',
        setupScript(spec.root, spec.mounts, spec.uid, spec.gid),
        'container',
        ...spec.argv,
      ],
      { env: Object.fromEntries(spec.env), stdio: ['ignore', 'pipe', 'pipe'], detached: true },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      try {
        process.kill(-(child.pid as number), 'SIGKILL');
      } catch {
        // gone
      }
    }, spec.timeoutMs);
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

function mountsOf(container: V1Container, volumes: PodVolumes): Mount[] {
  return (container.volumeMounts ?? []).map((m) => {
    const source = volumes.dirs.get(m.name);
    if (source === undefined) throw new Error(`volumeMount ${m.name}: no such volume`);
    return {
      source: path.join(source, m.subPath ?? ''),
      target: m.mountPath,
      readOnly: m.readOnly ?? false,
    };
  });
}

/**
 * Runs one container of `pod`. `rootfs` is the app image; an init container whose image is the
 * init image (`vault-inject-copy`) gets the init image's root instead (the bundle on scratch).
 */
export async function runContainer(
  ctx: PodRunContext,
  pod: V1Pod,
  container: V1Container,
  volumes: PodVolumes,
  workDir: string,
  options: RunOptions,
): Promise<ContainerResult> {
  const root = await mkdtemp(path.join(workDir, `root-${container.name}-`));
  await chmod(root, 0o755);
  const isInitImage = container.name === 'vault-inject-copy';
  const mounts = mountsOf(container, volumes);
  if (isInitImage) {
    await makeRoot(root, 'scratch', ctx.busybox);
    await rm(path.join(root, 'sh'));
    mounts.unshift({ source: ctx.bundleDir, target: '/vault-inject', readOnly: true });
  } else {
    await makeRoot(root, options.rootfs, ctx.busybox);
  }
  for (const m of mounts) await mkdir(path.join(root, m.target), { recursive: true });
  const env = await containerEnv(ctx.core, pod, container);
  const argv = [...(container.command ?? []), ...(container.args ?? [])].map((a) => expand(a, env));
  if (argv.length === 0)
    throw new Error(
      `container ${container.name}: no command (image entrypoints are not known here)`,
    );
  // What the runtime adds from the image config / itself.
  const runtimeEnv = new Map([
    [
      'PATH',
      options.rootfs === 'busybox' && !isInitImage
        ? '/bin'
        : '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    ],
    ['HOSTNAME', pod.metadata?.name ?? 'pod'],
    ...env,
  ]);
  const { uid, gid } = idsOf(pod, container);
  return runInRoot({
    root,
    mounts,
    argv,
    env: runtimeEnv,
    uid,
    gid,
    timeoutMs: options.timeoutMs ?? 30_000,
  });
}

export interface PodRun {
  readonly init: ContainerResult[];
  readonly result: ContainerResult;
}

/** Runs the pod's init containers in order (each must exit 0), then container `name`. */
export async function runPod(
  ctx: PodRunContext,
  pod: V1Pod,
  name: string,
  options: RunOptions,
): Promise<PodRun> {
  const workDir = await mkdtemp(path.join(tmpdir(), 'vault-inject-pod-'));
  try {
    const volumes = await podVolumes(ctx, pod, workDir);
    const init: ContainerResult[] = [];
    for (const c of pod.spec?.initContainers ?? []) {
      const r = await runContainer(ctx, pod, c, volumes, workDir, options);
      init.push(r);
      if (r.code !== 0) {
        throw new Error(`init container ${c.name} exited ${r.code ?? r.signal}: ${r.stderr}`);
      }
    }
    const container = pod.spec?.containers.find((c) => c.name === name);
    if (!container) throw new Error(`no container ${name} in the pod`);
    return { init, result: await runContainer(ctx, pod, container, volumes, workDir, options) };
  } finally {
    if (process.env['VAULT_INJECT_KEEP_TEST_DIRS'] === undefined && existsSync(workDir)) {
      await rm(workDir, { recursive: true, force: true });
    }
  }
}
