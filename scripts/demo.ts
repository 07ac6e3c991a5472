/**
 * `make demo`: the whole flow on the local real stack, narrated. Starts etcd, kube-apiserver,
 * OpenBao and the built webhook on 127.0.0.1; writes a demo secret; creates an annotated pod
 * through the apiserver; prints it before and after; runs its container as a kubelet would (a
 * chroot with the bundle, as the pod's UID) and shows what the app printed; stops everything.
 */
import type { V1Pod } from '@kubernetes/client-node';
import { randomBytes } from 'node:crypto';
import { stringify } from 'yaml';
import { SA_ISSUER, componentPath } from '../test/env/kube.ts';
import { expand, runPod } from '../test/env/container.ts';
import { BUNDLE_DIR, restrictedPod, startStack } from '../test/env/stack.ts';
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
      initContainers: spec?.initContainers?.map((c) => container(c as never)),
      containers: spec?.containers.map((c) => container(c as never)),
      volumes: spec?.volumes,
    },
  };
}

step(1, 'Starting the local stack: etcd, kube-apiserver, OpenBao (dev), the built webhook');
const stack = await startStack();
let failed = true;
try {
  console.log(indent(`kube-apiserver ${stack.kube.server}   OpenBao ${stack.bao.addr}`));
  console.log(
    indent(
      `webhook ${stack.webhook.url} (registered from deploy/chart, caBundle = its certificate)`,
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
  console.log(indent(stringify(essentials(pod))));

  step(4, 'The pod the apiserver stored, after the webhook (still no secret in it)');
  const stored = await stack.kube.core.createNamespacedPod({ namespace: ns, body: pod });
  console.log(indent(stringify(essentials(stored))));

  step(
    5,
    'Running it as a kubelet would: copy init container, then the app in a busybox chroot as UID 1000',
  );
  const run = await runPod(
    {
      core: stack.kube.core,
      token: (n, sa, aud, s) => stack.kube.serviceAccountToken(n, sa, aud, s),
      caPem: stack.kube.caPem,
      defaultAudience: SA_ISSUER,
      bundleDir: BUNDLE_DIR,
      busybox: await componentPath('busybox', 'VAULT_INJECT_BUSYBOX'),
    },
    stored,
    'app',
    { rootfs: 'busybox' },
  );
  // What the container runs, after the kubelet's `$(VAR)` expansion (which turns `$$` into `$`).
  const argv = [
    ...(stored.spec?.containers[0]?.command ?? []),
    ...(stored.spec?.containers[0]?.args ?? []),
  ];
  console.log(indent(`$ ${argv.map((a) => expand(a, new Map())).join(' ')}`));
  console.log(indent(run.result.stdout + run.result.stderr));
  console.log(
    indent(`exit code ${run.result.code}  (the last line counts VAULT_* variables the app sees)`),
  );
  failed = run.result.code !== 0;
} catch (err) {
  console.error(`demo failed: ${(err as Error).message}\n${stack.logs(20)}`);
} finally {
  step(6, 'Stopping everything');
  await stack.stop();
  console.log(indent(`done in ${((performance.now() - t0) / 1000).toFixed(1)} s`));
}
process.exit(failed ? 1 : 0);
