/**
 * `make demo`: the whole flow on the local real stack, narrated. Starts etcd, kube-apiserver,
 * OpenBao, the built webhook and a real node (kubelet, containerd, runc) on 127.0.0.1; writes a
 * demo secret; creates an annotated pod through the apiserver; prints it before and after; lets
 * the node run it and shows the kubelet's events and the pod's log; stops everything and puts the
 * machine back.
 */
import type { CoreV1Api, CoreV1Event, V1Pod } from '@kubernetes/client-node';
import { randomBytes } from 'node:crypto';
import { stringify } from 'yaml';
import { waitUntil } from '../test/env/processes.ts';
import { restrictedPod, startStack } from '../test/env/stack.ts';
import { kvPut } from '../test/env/vault-kubernetes.ts';

const t0 = performance.now();
const bold = (s: string): string => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);
const step = (n: number, text: string): void => {
  const at = ((performance.now() - t0) / 1000).toFixed(1);
  console.log(`\n${bold(`[${n}] ${text}`)}  (${at} s)`);
};
const indent = (text: string): string => text.replace(/^/gm, '    ').trimEnd();

/** The stored pod without what the apiserver adds to every pod (defaults, tolerations, ...). */
function essentials(pod: V1Pod): unknown {
  const plain = JSON.parse(JSON.stringify(pod)) as V1Pod;
  const container = (c: Record<string, unknown>): Record<string, unknown> => {
    const {
      terminationMessagePath,
      terminationMessagePolicy,
      resources,
      imagePullPolicy,
      ...rest
    } = c;
    void terminationMessagePath;
    void terminationMessagePolicy;
    void imagePullPolicy;
    return resources && Object.keys(resources).length > 0 ? { ...rest, resources } : rest;
  };
  const spec = plain.spec;
  return {
    metadata: { name: plain.metadata?.name, annotations: plain.metadata?.annotations },
    spec: {
      serviceAccountName: spec?.serviceAccountName,
      nodeName: spec?.nodeName,
      initContainers: spec?.initContainers?.map((c) => container(c as never)),
      containers: spec?.containers.map((c) => container(c as never)),
      volumes: spec?.volumes,
    },
  };
}

/** The kubelet's events about the pod, oldest first, one line each. */
async function events(core: CoreV1Api, namespace: string, name: string): Promise<string[]> {
  const list = await core.listNamespacedEvent({
    namespace,
    fieldSelector: `involvedObject.name=${name}`,
  });
  const when = (e: CoreV1Event): number =>
    new Date(e.eventTime ?? e.firstTimestamp ?? e.lastTimestamp ?? 0).getTime();
  return [...list.items]
    .sort((a, b) => when(a) - when(b))
    .map((e) => `${(e.reason ?? '').padEnd(10)} ${e.message ?? ''}`);
}

step(
  1,
  'Starting the local stack: etcd, kube-apiserver, OpenBao (dev), the built webhook, a node (kubelet, containerd, runc)',
);
const stack = await startStack({ node: true });
const node = stack.node;
let failed = true;
try {
  if (!node) throw new Error('the stack started without its node');
  console.log(indent(`kube-apiserver ${stack.kube.server}   OpenBao ${stack.bao.addr}`));
  console.log(
    indent(
      `webhook ${stack.webhook.url} (registered from deploy/chart, caBundle = its certificate)`,
    ),
  );
  console.log(
    indent(
      `node ${node.name} Ready in ${node.startSeconds.toFixed(1)} s; registry ${node.registry}; pods reach OpenBao at ${node.podVaultAddr}`,
    ),
  );

  step(2, 'Writing a secret to OpenBao and a Kubernetes auth role for service account "app"');
  const ns = await stack.appNamespace('demo');
  const secret = { password: `pw-${randomBytes(6).toString('hex')}`, user: 'app_user' };
  await kvPut(stack.bao, 'demo/db', secret);
  console.log(indent(`bao kv put secret/demo/db password=${secret.password} user=${secret.user}`));
  console.log(
    indent(
      `namespace ${ns} (Pod Security "restricted"), role "app" bound to ${ns}/app, audience vault`,
    ),
  );
  await stack.waitForWebhook(ns);

  step(3, 'The pod you write (references only, no secret)');
  const pod = restrictedPod(
    'demo',
    {
      image: 'docker.io/library/busybox:1.35',
      command: ['/bin/sh', '-c'],
      args: [
        'echo "I am PID $$$$, user $$(id -u)"; echo "DB_URL=$DB_URL"; env | grep -c VAULT_ || true',
      ],
      env: [
        { name: 'DB_PASSWORD', value: 'vault:secret/demo/db#password' },
        {
          name: 'DB_URL',
          value:
            'postgres://${vault:secret/demo/db#user}:${vault:secret/demo/db#password}@db:5432/app',
        },
      ],
    },
    { serviceAccountName: 'app', annotations: { 'vault-inject.dev/token-audience': 'vault' } },
  );
  // No scheduler here: the pod names its node.
  pod.spec = { ...(pod.spec ?? { containers: [] }), nodeName: node.name, restartPolicy: 'Never' };
  console.log(indent(stringify(essentials(pod))));

  step(4, 'The pod the apiserver stored, after the webhook (still no secret in it)');
  const stored = await stack.kube.core.createNamespacedPod({ namespace: ns, body: pod });
  console.log(indent(stringify(essentials(stored))));

  step(5, 'The node runs it: the kubelet pulls the init image, the copy init container, the app');
  let done: V1Pod = stored;
  await waitUntil(
    'the pod to finish',
    async () => {
      done = await stack.kube.core.readNamespacedPod({ namespace: ns, name: 'demo' });
      return done.status?.phase === 'Succeeded' || done.status?.phase === 'Failed';
    },
    { timeoutMs: 60_000 },
  );
  console.log(indent('kubelet events (kubectl events --for pod/demo):'));
  console.log(indent(indent((await events(stack.kube.core, ns, 'demo')).join('\n'))));
  const log = await stack.kube.core.readNamespacedPodLog({ namespace: ns, name: 'demo' });
  console.log(indent("the pod's log (kubectl logs demo):"));
  console.log(indent(indent(log)));
  const code = done.status?.containerStatuses?.[0]?.state?.terminated?.exitCode;
  console.log(
    indent(`exit code ${code ?? '?'}  (the last line counts VAULT_* variables the app sees)`),
  );
  failed = code !== 0;
} catch (err) {
  console.error(`demo failed: ${(err as Error).message}\n${stack.logs(20)}`);
} finally {
  step(6, 'Stopping everything; the node puts the machine back');
  await stack.stop();
  console.log(indent(`done in ${((performance.now() - t0) / 1000).toFixed(1)} s`));
}
process.exit(failed ? 1 : 0);
