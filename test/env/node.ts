/**
 * A real Kubernetes node for the local stack: containerd 2 + runc + kubelet (the apiserver's
 * version), registered with the stack's kube-apiserver, pulling from a local registry
 * (test/env/node-images.ts), with a bridge pod network the stack owns (test/env/node-host.ts).
 *
 *   - containerd: its own root, state and socket in the node's directory; CRI with
 *     `restrict_oom_score_adj` (no CAP_SYS_RESOURCE here), runc from the component cache, network
 *     namespaces under its state directory, the sandbox image built locally, registry mirrors
 *     (config_path + hosts.toml) sending ghcr.io, docker.io and registry.k8s.io to the local
 *     registry, never further.
 *   - kubelet: cgroupfs, `failCgroupV1: false`, `failSwapOn: false`, `makeIPTablesUtilChains:
 *     false`, anonymous authentication with AlwaysAllow on 127.0.0.1 (so the apiserver's
 *     `logs`/`exec` reach it), every port on 127.0.0.1 and chosen free, the node is
 *     named after the host (whose name resolves to 127.0.0.1), credentials: the stack's admin.
 *   - the pod network: bridge `vi-pods0` with 10.89.0.0/24, gateway 10.89.0.1; forwarding from the
 *     bridge to anything but the bridge is dropped. OpenBao is reachable from the pods through a
 *     TCP forwarder on the gateway address (test/env/forwarder.ts), so pods stay Pod Security
 *     `restricted` (no hostNetwork).
 *
 * One node per machine (the kubelet's fixed host paths): a lock says who holds them. `stop()`
 * (also the exit hook, for a failed test or Ctrl-C) puts back everything the node changed.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { componentPath, type Kube } from './kube.ts';
import {
  copyImageStore,
  ensureImageStore,
  MIRRORED,
  PAUSE_IMAGE,
  startLocalRegistry,
  type LocalRegistry,
} from './node-images.ts';
import { acquireNodeLock, lockPids, restoreHost, saveHost, setUpNetwork } from './node-host.ts';
import { freePort, listenWithRetry } from './ports.ts';
import {
  onExitSync,
  removeDirOnExit,
  startProcess,
  tail,
  waitUntil,
  type ServerProcess,
} from './processes.ts';

/**
 * The node registers under the machine's host name: the apiserver reaches the kubelet (logs, exec)
 * by its Hostname address, which resolves to 127.0.0.1 here. (An --node-ip of 127.0.0.1 is refused
 * by the kubelet, and an overridden name would not resolve.)
 */
export const NODE_NAME = hostname().toLowerCase();
export const BRIDGE = 'vi-pods0';
export const POD_SUBNET = '10.89.0.0/24';
export const GATEWAY = '10.89.0.1';
const FORWARDER = path.join(import.meta.dirname, 'forwarder.ts');

export interface NodeOptions {
  readonly kube: Kube;
  /** OpenBao's loopback address (http://127.0.0.1:PORT): forwarded to the pods' network. */
  readonly baoAddr: string;
  readonly persistent?: boolean;
  /** How long to wait for another node on this machine to stop (default: fail at once). */
  readonly lockWaitMs?: number;
}

export interface Node {
  readonly name: string;
  readonly dir: string;
  /** The local registry, 127.0.0.1:PORT (also reachable as ghcr.io, docker.io, registry.k8s.io). */
  readonly registry: string;
  /** OpenBao as the pods reach it: http://10.89.0.1:PORT. */
  readonly podVaultAddr: string;
  readonly processes: readonly ServerProcess[];
  /** Seconds from start to Ready. */
  readonly startSeconds: number;
  logs(lines?: number): string;
  stop(): Promise<void>;
}

const socketOf = (dir: string): string => path.join(dir, 'containerd.sock');

function containerdConfig(dir: string, runc: string, sandbox: string): string {
  const c = (p: string): string => JSON.stringify(path.join(dir, 'containerd', p));
  return `version = 3
root = ${c('root')}
state = ${c('state')}
disabled_plugins = ["io.containerd.nri.v1.nri", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.blockfile", "io.containerd.snapshotter.v1.erofs"]

[grpc]
  address = ${JSON.stringify(socketOf(dir))}
[ttrpc]
  address = ${JSON.stringify(`${socketOf(dir)}.ttrpc`)}

[plugins]
  [plugins.'io.containerd.internal.v1.opt']
    path = ${c('opt')}
  [plugins.'io.containerd.grpc.v1.cri']
    stream_server_address = "127.0.0.1"
    stream_server_port = "0"
  [plugins.'io.containerd.cri.v1.runtime']
    restrict_oom_score_adj = true
    netns_mounts_under_state_dir = true
    [plugins.'io.containerd.cri.v1.runtime'.containerd]
      default_runtime_name = "runc"
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
        [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
          BinaryName = ${JSON.stringify(runc)}
          SystemdCgroup = false
    [plugins.'io.containerd.cri.v1.runtime'.cni]
      bin_dirs = ["/usr/lib/cni"]
      conf_dir = ${JSON.stringify(path.join(dir, 'cni'))}
  [plugins.'io.containerd.cri.v1.images']
    snapshotter = "overlayfs"
    [plugins.'io.containerd.cri.v1.images'.pinned_images]
      sandbox = ${JSON.stringify(sandbox)}
    [plugins.'io.containerd.cri.v1.images'.registry]
      config_path = ${JSON.stringify(path.join(dir, 'certs.d'))}
`;
}

/** One hosts.toml per mirrored registry, all served by the local one (no fallback upstream). */
async function writeMirrors(dir: string, registry: string): Promise<void> {
  for (const host of [...MIRRORED, registry]) {
    const d = path.join(dir, 'certs.d', host === 'docker.io' ? 'docker.io' : host);
    await mkdir(d, { recursive: true });
    await writeFile(
      path.join(d, 'hosts.toml'),
      `server = "http://${registry}"\n\n[host."http://${registry}"]\n  capabilities = ["pull", "resolve"]\n`,
    );
  }
}

async function writeCni(dir: string): Promise<void> {
  await mkdir(path.join(dir, 'cni'), { recursive: true });
  const conf = {
    cniVersion: '1.0.0',
    name: 'vault-inject-pods',
    plugins: [
      {
        type: 'bridge',
        bridge: BRIDGE,
        isGateway: true,
        ipMasq: false,
        hairpinMode: true,
        ipam: {
          type: 'host-local',
          ranges: [[{ subnet: POD_SUBNET, gateway: GATEWAY }]],
          dataDir: path.join(dir, 'cni-ipam'),
        },
      },
      { type: 'loopback' },
    ],
  };
  await writeFile(path.join(dir, 'cni', '10-vault-inject.conflist'), JSON.stringify(conf, null, 2));
}

function kubeletConfig(dir: string, ports: { port: number; healthz: number }): string {
  return `apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 127.0.0.1
port: ${ports.port}
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: ${ports.healthz}
authentication:
  anonymous: {enabled: true}
  webhook: {enabled: false}
authorization: {mode: AlwaysAllow}
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
makeIPTablesUtilChains: false
containerRuntimeEndpoint: unix://${socketOf(dir)}
podLogsDir: ${path.join(dir, 'pod-logs')}
volumePluginDir: ${path.join(dir, 'volume-plugins')}
resolvConf: ""
serializeImagePulls: false
registerNode: true
rotateCertificates: false
serverTLSBootstrap: false
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: "1Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
nodeStatusUpdateFrequency: 2s
syncFrequency: 5s
shutdownGracePeriod: 0s
logging: {verbosity: 1}
`;
}

export async function startNode(options: NodeOptions): Promise<Node> {
  const started = performance.now();
  const [kubelet, containerd, runc] = await Promise.all([
    componentPath('kubelet', 'VAULT_INJECT_KUBELET'),
    componentPath('containerd', 'VAULT_INJECT_CONTAINERD'),
    componentPath('runc', 'VAULT_INJECT_RUNC'),
    componentPath('cni-plugins', 'VAULT_INJECT_CNI_BRIDGE'),
  ]);
  const store = await ensureImageStore();
  // A short path of its own, not under the stack's directory: the kubelet and containerd put unix
  // sockets under it, whose paths are limited to 107 bytes.
  const dir = await mkdtemp(path.join(tmpdir(), 'vi-node-'));
  if (!options.persistent) removeDirOnExit(dir);
  try {
    await acquireNodeLock(dir, options.lockWaitMs ?? 0);
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  const cleanup = (): void => {
    restoreHost(dir);
  };
  const unhook = options.persistent ? (): void => undefined : onExitSync(cleanup);
  const procs: ServerProcess[] = [];
  const stopProcs = async (): Promise<void> => {
    for (const p of [...procs].reverse()) await p.stop();
  };
  try {
    const state = saveHost(dir, BRIDGE, POD_SUBNET);
    setUpNetwork(state, GATEWAY);
    await copyImageStore(store, path.join(dir, 'registry-storage'));
    const registry: LocalRegistry = await startLocalRegistry(
      dir,
      path.join(dir, 'registry-storage'),
      options.persistent ?? false,
    );
    procs.push(registry.process);
    const { proc: forwarder, port: forwardPort } = await startForwarder(dir, options);
    procs.push(forwarder);
    await writeMirrors(dir, registry.host);
    await writeCni(dir);
    const env = {
      PATH: `${path.dirname(containerd)}:${path.dirname(runc)}:/usr/sbin:/usr/bin:/sbin:/bin`,
    };
    await writeFile(path.join(dir, 'containerd.toml'), containerdConfig(dir, runc, PAUSE_IMAGE));
    const ctr = startProcess({
      name: 'containerd',
      command: containerd,
      args: ['--config', path.join(dir, 'containerd.toml')],
      logPath: path.join(dir, 'containerd.log'),
      env,
      persistent: options.persistent ?? false,
    });
    procs.push(ctr);
    await waitUntil('containerd', async () => existsSocket(socketOf(dir)), {
      process: ctr,
    });
    const kubeletProc = await startKubelet(dir, kubelet, options, env);
    procs.push(kubeletProc);
    lockPids(
      dir,
      procs.map((p) => p.pid),
    );
    await waitReady(options.kube, kubeletProc);
    const startSeconds = (performance.now() - started) / 1000;
    let stopped = false;
    return {
      name: NODE_NAME,
      dir,
      registry: registry.host,
      podVaultAddr: `http://${GATEWAY}:${forwardPort}`,
      processes: procs,
      startSeconds,
      logs: (lines = 30) =>
        procs.map((p) => `--- ${p.name} (${p.logPath}) ---\n${tail(p.logPath, lines)}`).join('\n'),
      async stop() {
        if (stopped) return;
        stopped = true;
        await deleteNode(options.kube);
        await stopProcs();
        const problems = restoreHost(dir);
        unhook();
        if (process.env['VAULT_INJECT_KEEP_TEST_DIRS'] === undefined) {
          await rm(dir, { recursive: true, force: true });
        }
        if (problems.length)
          throw new Error(`node: not everything restored: ${problems.join('; ')}`);
      },
    };
  } catch (err) {
    await stopProcs().catch(() => undefined);
    restoreHost(dir);
    unhook();
    throw err;
  }
}

async function existsSocket(p: string): Promise<boolean> {
  const { stat } = await import('node:fs/promises');
  return (await stat(p)).isSocket();
}

async function startForwarder(
  dir: string,
  options: NodeOptions,
): Promise<{ proc: ServerProcess; port: number }> {
  const target = new URL(options.baoAddr);
  return listenWithRetry('OpenBao forwarder', async (port) => {
    const proc = startProcess({
      name: 'forwarder',
      command: process.execPath,
      args: [FORWARDER, `${GATEWAY}:${port}`, `${target.hostname}:${target.port}`],
      logPath: path.join(dir, 'forwarder.log'),
      persistent: options.persistent ?? false,
    });
    await waitUntil(
      'OpenBao forwarder',
      async () => (await fetch(`http://${GATEWAY}:${port}/v1/sys/health`)).status < 500,
      { process: proc, timeoutMs: 10_000 },
    );
    return proc;
  });
}

async function startKubelet(
  dir: string,
  binary: string,
  options: NodeOptions,
  env: Record<string, string>,
): Promise<ServerProcess> {
  const kubeconfig = await options.kube.writeKubeconfig(path.join(dir, 'kubelet.kubeconfig'));
  const { proc } = await listenWithRetry('kubelet', async (port) => {
    const healthz = await freePort();
    await writeFile(path.join(dir, 'kubelet.yaml'), kubeletConfig(dir, { port, healthz }));
    const proc = startProcess({
      name: 'kubelet',
      command: binary,
      args: [
        `--config=${path.join(dir, 'kubelet.yaml')}`,
        `--kubeconfig=${kubeconfig}`,
        `--root-dir=${path.join(dir, 'kubelet')}`,
        `--cert-dir=${path.join(dir, 'kubelet-pki')}`,
      ],
      logPath: path.join(dir, 'kubelet.log'),
      env,
      persistent: options.persistent ?? false,
    });
    await waitUntil(
      'kubelet healthz',
      async () => (await fetch(`http://127.0.0.1:${healthz}/healthz`)).ok,
      { process: proc, timeoutMs: 60_000 },
    );
    return proc;
  });
  return proc;
}

async function waitReady(kube: Kube, kubelet: ServerProcess): Promise<void> {
  await waitUntil(
    `node ${NODE_NAME} Ready`,
    async () => {
      const node = await kube.core.readNode({ name: NODE_NAME });
      return (node.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
    },
    { process: kubelet, timeoutMs: 60_000 },
  );
}

async function deleteNode(kube: Kube): Promise<void> {
  await kube.core.deleteNode({ name: NODE_NAME }).catch(() => undefined);
}
