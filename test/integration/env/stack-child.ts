/**
 * A test process that dies with the stack running, for cleanup.test.ts (not a test itself):
 * starts the stack under `argv[2]`, prints one JSON line (the stack's directory and the process
 * group of every server), then, by `argv[3]`:
 *   throw   throws (uncaught) when a line arrives on stdin: no `after()`, no `stop()`;
 *   wait    waits to be killed by a signal (the runner's timeout, a Ctrl-C).
 * With `node` as `argv[4]` the stack has its real node (test/env/node.ts) running one pod (so
 * there are containers, mounts, a network namespace and cgroups to clean); the report then also
 * has the node's directory.
 */
import { waitUntil } from '../../env/processes.ts';
import { restrictedPod, startStack } from '../../env/stack.ts';

const [baseDir, mode, withNode] = process.argv.slice(2);
if (baseDir === undefined || (mode !== 'throw' && mode !== 'wait')) {
  process.stderr.write('usage: node stack-child.ts BASE_DIR throw|wait [node]\n');
  process.exit(2);
}
const stack = await startStack({ baseDir, node: withNode === 'node' });
const groups = [
  ...stack.kube.processes,
  stack.bao.process,
  stack.webhook.process,
  ...(stack.node?.processes ?? []),
].map((p) => ({ name: p.name, pid: p.pid }));
if (stack.node) {
  const namespace = await stack.appNamespace('child');
  const pod = restrictedPod('sleeper', {
    image: 'docker.io/library/busybox:1.35',
    command: ['/bin/sleep', '3600'],
  });
  await stack.kube.core.createNamespacedPod({
    namespace,
    body: {
      ...pod,
      spec: { ...pod.spec, containers: pod.spec?.containers ?? [], nodeName: stack.node.name },
    },
  });
  await waitUntil('the pod running on the node', async () => {
    const p = await stack.kube.core.readNamespacedPod({ namespace, name: 'sleeper' });
    return p.status?.phase === 'Running';
  });
}
process.stdout.write(`${JSON.stringify({ dir: stack.dir, nodeDir: stack.node?.dir, groups })}\n`);
if (mode === 'throw') {
  process.stdin.once('data', () => {
    throw new Error('a test failed with the stack running');
  });
} else {
  setInterval(() => undefined, 60_000);
}
