/**
 * Pods run on the stack's real node (test/env/node.ts): stored through the apiserver and the
 * built webhook, started by the kubelet, containerd and runc. The exit code comes from the pod's
 * status, the output from the kubelet: its log endpoint (what `kubectl logs` shows) and the CRI
 * log file it writes, which keeps stdout and stderr apart line by line.
 */
import {
  Exec,
  type V1ContainerStatus,
  type V1Pod,
  type V1PodSpec,
  type V1Status,
} from '@kubernetes/client-node';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import type { Node } from '../env/node.ts';
import { FIXED_PATHS } from '../env/node-host.ts';
import type { Stack } from '../env/stack.ts';
import { waitUntil } from '../env/processes.ts';

export interface NodeRun {
  /** The pod as stored (after the webhook). */
  readonly stored: V1Pod;
  /** The pod when the container ended. */
  readonly pod: V1Pod;
  readonly exitCode: number;
  /** `status.containerStatuses[].state.terminated.reason`. */
  readonly reason: string;
  /** What the kubelet's log endpoint returns for the container (stdout and stderr together). */
  readonly log: string;
  readonly stdout: string;
  readonly stderr: string;
}

export function nodeOf(stack: Stack): Node {
  if (!stack.node) throw new Error('the stack has no node: startStack({ node: true })');
  return stack.node;
}

export function specOf(pod: V1Pod): V1PodSpec {
  if (!pod.spec) throw new Error(`pod ${pod.metadata?.name ?? ''} has no spec`);
  return pod.spec;
}

export function onNode(stack: Stack, pod: V1Pod, restartPolicy = 'Never'): V1Pod {
  return { ...pod, spec: { ...specOf(pod), nodeName: nodeOf(stack).name, restartPolicy } };
}

export function containerStatus(pod: V1Pod, container: string): V1ContainerStatus | undefined {
  return [...(pod.status?.containerStatuses ?? []), ...(pod.status?.initContainerStatuses ?? [])]
    .filter((s) => s.name === container)
    .at(0);
}

/** The CRI log lines (`TIME STREAM P|F TEXT`) of a container's current run, split by stream. */
export function criLog(
  stack: Stack,
  pod: V1Pod,
  container: string,
): { stdout: string; stderr: string } {
  const base = path.join(nodeOf(stack).dir, 'pod-logs');
  const podDir = `${pod.metadata?.namespace}_${pod.metadata?.name}_${pod.metadata?.uid}`;
  const dir = path.join(base, podDir, container);
  const files = readdirSync(dir)
    .filter((f) => /^\d+\.log$/.test(f))
    .sort((a, b) => parseInt(b, 10) - parseInt(a, 10));
  const out = { stdout: '', stderr: '' };
  const text = readFileSync(path.join(dir, files[0] ?? '0.log'), 'utf8');
  for (const line of text.split('\n')) {
    const m = /^\S+ (stdout|stderr) ([PF]) (.*)$/.exec(line);
    if (!m) continue;
    out[m[1] as 'stdout' | 'stderr'] += m[3] + (m[2] === 'F' ? '\n' : '');
  }
  return out;
}

/** Waits until `check` holds for the pod (read every 100 ms). */
export async function waitForPod(
  stack: Stack,
  namespace: string,
  name: string,
  what: string,
  check: (pod: V1Pod) => boolean,
  timeoutMs = 60_000,
): Promise<V1Pod> {
  let last: V1Pod | undefined;
  try {
    await waitUntil(
      `pod ${namespace}/${name}: ${what}`,
      async () => {
        last = await stack.kube.core.readNamespacedPod({ namespace, name });
        return check(last);
      },
      { timeoutMs },
    );
  } catch (err) {
    throw new Error(`${(err as Error).message}\nlast status: ${JSON.stringify(last?.status)}`, {
      cause: err,
    });
  }
  return last as V1Pod;
}

/** Creates the pod on the node and waits until `container` has terminated. */
export async function runOnNode(
  stack: Stack,
  namespace: string,
  pod: V1Pod,
  container = 'app',
): Promise<NodeRun> {
  const stored = await stack.kube.core.createNamespacedPod({
    namespace,
    body: onNode(stack, pod, pod.spec?.restartPolicy ?? 'Never'),
  });
  const name = stored.metadata?.name ?? '';
  const ended = await waitForPod(
    stack,
    namespace,
    name,
    `${container} terminated`,
    (p) => containerStatus(p, container)?.state?.terminated !== undefined,
  );
  const terminated = containerStatus(ended, container)?.state?.terminated;
  const log = await stack.kube.core.readNamespacedPodLog({ namespace, name, container });
  return {
    stored,
    pod: ended,
    exitCode: terminated?.exitCode ?? -1,
    reason: terminated?.reason ?? '',
    log,
    ...criLog(stack, ended, container),
  };
}

/**
 * A script for busybox sh that prints `pid=PID uid=UID`, then one `NAME SHA256` line per
 * variable of its environment: the test compares hashes, so no value reaches the node's log files.
 * (`$$` is the kubelet's escape of `$`.)
 */
export const HASH_ENV_SCRIPT =
  'echo "pid=$$$$ uid=$$(id -u)"; env | while IFS== read -r k v; do printf "%s " "$k"; printf %s "$v" | sha256sum | cut -d" " -f1; done';

/** `NAME SHA256` lines → a map. */
export function parseHashes(stdout: string): Map<string, string> {
  const vars = new Map<string, string>();
  for (const line of stdout.split('\n')) {
    const m = /^([A-Za-z_][A-Za-z0-9_]*) ([0-9a-f]{64})$/.exec(line);
    if (m) vars.set(m[1] as string, m[2] as string);
  }
  return vars;
}

/** A file's content; empty when it went away meanwhile (a deleted pod's container). */
export function readIfThere(file: string): Buffer {
  try {
    return readFileSync(file);
  } catch {
    return Buffer.alloc(0);
  }
}

/** Every regular file under `dir` but the registry's storage (images only), at most 256 MB each. */
function walk(dir: string): string[] {
  const out: string[] = [];
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.name === 'registry-storage') continue;
    if (e.isDirectory()) out.push(...walk(p));
    else if (e.isFile() && statSync(p).size < 256 * 1024 * 1024) out.push(p);
  }
  return out;
}

/**
 * Every file of the node: its directory (logs, containerd's root and state, the kubelet's root
 * with the pods' volumes, the CRI log files) and the fixed host paths. Read them one at a time
 * (`readIfThere`): the pods' emptyDir copies of the bundle alone are 100 MB each.
 */
export function nodeFiles(stack: Stack): string[] {
  return [...walk(nodeOf(stack).dir), ...FIXED_PATHS.flatMap((p) => walk(p))];
}

/**
 * `kubectl exec` through the apiserver into `container` of `pod`: stdout, stderr, the exit code
 * and whether the apiserver called it a success.
 */
export async function execInPod(
  stack: Stack,
  at: { ns: string; pod: string; container: string },
  command: string[],
): Promise<{ stdout: string; stderr: string; code: number; ok: boolean }> {
  const exec = new Exec(stack.kube.kubeConfig());
  let stdout = '';
  let stderr = '';
  const sink = (add: (s: string) => void) =>
    new Writable({
      write(chunk: Buffer, _e, done) {
        add(chunk.toString());
        done();
      },
    });
  const status = await new Promise<V1Status>((resolve, reject) => {
    exec
      .exec(
        at.ns,
        at.pod,
        at.container,
        command,
        sink((s) => (stdout += s)),
        sink((s) => (stderr += s)),
        null,
        false,
        resolve,
      )
      .catch(reject);
  });
  const ok = status.status === 'Success';
  const code = ok
    ? 0
    : Number(status.details?.causes?.find((c) => c.reason === 'ExitCode')?.message ?? -1);
  return { stdout, stderr, code, ok };
}
