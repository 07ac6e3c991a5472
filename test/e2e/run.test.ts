/**
 * End-to-end, container side: a pod stored through the apiserver and the BUILT webhook, then run
 * as its kubelet would (test/env/container.ts): the copy init container fills the emptyDir from
 * the init image (the bundle, `make bundle`), the app container runs the stored command + args
 * with the stored env in a chroot without a kubelet, as the pod's UID, in its own PID namespace.
 * Steps 2, 3 (unbound role) and 4 (canary) of issue 4, and every engine and auth method the
 * stack's OpenBao is configured with (KV v1, transit, PKI, the password policy, approle).
 */
import type { V1Pod } from '@kubernetes/client-node';
import assert from 'node:assert/strict';
import { randomBytes, X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { runPod, type PodRunContext } from '../env/container.ts';
import { BUNDLE_DIR, restrictedPod } from '../env/stack.ts';
import { createKubernetesRole } from '../env/vault-kubernetes.ts';
import {
  APP_ENV,
  APP_ENV_FROM,
  APP_SECRET,
  CANARY,
  REF,
  RESOLVED,
  podRunContext,
  useStack,
} from './harness.ts';

const h = useStack({ auditLog: true });
/** Values that live only in OpenBao (KV v1, a transit plaintext): checked like the canary. */
const KV1_VALUE = `kv1-${randomBytes(6).toString('hex')}`;
const TRANSIT_PLAINTEXT = `transit-${randomBytes(6).toString('hex')}`;
let ctx: PodRunContext;

before(() => {
  assert.ok(
    existsSync(path.join(BUNDLE_DIR, 'bin/vault-inject-env')),
    `${BUNDLE_DIR} is missing: run make bundle`,
  );
});

/** Note: in `command`/`args` the kubelet turns `$$` into `$` (its `$(VAR)` escape). */
function appPod(name: string, script: string[], annotations: Record<string, string> = {}): V1Pod {
  return restrictedPod(
    name,
    { command: script.slice(0, 1), args: script.slice(1), env: APP_ENV, envFrom: APP_ENV_FROM },
    {
      serviceAccountName: 'app',
      annotations: { 'vault-inject.dev/token-audience': 'vault', ...annotations },
    },
  );
}

/** `NAME=value` lines (env) or `export NAME='value'` lines (ash's `export -p`) → a map. */
function parseEnv(stdout: string): Map<string, string> {
  const vars = new Map<string, string>();
  for (const line of stdout.split('\n')) {
    const m = /^(?:export )?([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (!m) continue;
    let value = m[2] as string;
    if (value.startsWith("'") && value.endsWith("'")) value = value.slice(1, -1);
    vars.set(m[1] as string, value);
  }
  return vars;
}

function assertResolved(stdout: string): void {
  const vars = parseEnv(stdout);
  for (const [name, value] of Object.entries(RESOLVED)) {
    assert.equal(vars.get(name), value, `${name} resolved`);
  }
  const leaked = [...vars.keys()].filter(
    (n) => n.startsWith('VAULT_') || n === 'KUBERNETES_SERVICE_ACCOUNT_TOKEN',
  );
  assert.deepEqual(leaked, [], 'the app sees none of the init program settings');
}

async function storeAndRun(pod: V1Pod, rootfs: 'busybox' | 'scratch' = 'busybox') {
  const { stack, ns } = h;
  ctx ??= await podRunContext(stack);
  const stored = await stack.kube.core.createNamespacedPod({ namespace: ns, body: pod });
  assert.equal(stored.metadata?.annotations?.['vault-inject.dev/status'], 'injected');
  return runPod(ctx, stored, 'app', { rootfs });
}

describe('the stored pod run as a kubelet would', () => {
  it('busybox root: the app prints the resolved values, runs with the init program PID, sees no VAULT_*', async () => {
    const run = await storeAndRun(
      appPod('run-busybox', ['/bin/sh', '-c', 'echo "pid=$$$$ uid=$$(id -u)"; env']),
      'busybox',
    );
    assert.equal(run.result.code, 0, run.result.stderr);
    // PID 1 of the pod's PID namespace: the process the runtime started, exec'd into the app.
    assert.match(run.result.stdout, /^pid=1 uid=1000$/m);
    assertResolved(run.result.stdout);
  });

  it('scratch root (one static binary, no libc): same result', async () => {
    const run = await storeAndRun(
      appPod('run-scratch', ['/sh', '-c', 'echo "pid=$$$$"; export -p']),
      'scratch',
    );
    assert.equal(run.result.code, 0, run.result.stderr);
    assert.match(run.result.stdout, /^pid=1$/m);
    assertResolved(run.result.stdout);
  });

  it('a role the service account is not bound to: exit 77 with one line on stderr', async () => {
    const { stack, ns } = h;
    await createKubernetesRole(stack.bao, {
      name: 'not-app',
      serviceAccounts: ['someone-else'],
      namespaces: [ns],
      policies: ['default'],
    });
    const run = await storeAndRun(
      appPod('run-unbound', ['/bin/sh', '-c', 'echo app-started'], {
        'vault-inject.dev/role': 'not-app',
      }),
      'busybox',
    );
    assert.equal(run.result.code, 77, run.result.stderr);
    assert.doesNotMatch(run.result.stdout, /app-started/);
    const lines = run.result.stderr.trim().split('\n');
    assert.equal(lines.length, 1, `one line: ${run.result.stderr}`);
    assert.ok((lines[0] as string).length > 10);
  });

  it('reads KV v1, decrypts transit, issues from PKI and generates from the password policy, logged in through Kubernetes auth', async () => {
    const { stack } = h;
    await stack.bao.api('POST', 'kv/e2e', { value: KV1_VALUE });
    const key = stack.fixtures.transitKey;
    const encrypted = await stack.bao.api('POST', `transit/encrypt/${key}`, {
      plaintext: Buffer.from(TRANSIT_PLAINTEXT).toString('base64'),
    });
    const ciphertext = (encrypted['data'] as { ciphertext: string }).ciphertext;
    const run = await storeAndRun(
      restrictedPod(
        'run-engines',
        {
          command: ['/bin/sh', '-c'],
          args: ['env'],
          env: [
            { name: 'KV1', value: 'vault:kv/e2e#value' },
            { name: 'TRANSIT', value: ciphertext },
            {
              name: 'SERIAL',
              value: '>>vault:pki/issue/app#serial_number#{"common_name":"run.example.test"}',
            },
            { name: 'PASSWORD', value: 'vault:sys/policies/password/app/generate#password' },
          ],
        },
        {
          serviceAccountName: 'app',
          annotations: {
            'vault-inject.dev/token-audience': 'vault',
            'vault-inject.dev/transit-key': key,
          },
        },
      ),
    );
    assert.equal(run.result.code, 0, run.result.stderr);
    const vars = parseEnv(run.result.stdout);
    assert.equal(vars.get('KV1'), KV1_VALUE);
    assert.equal(vars.get('TRANSIT'), TRANSIT_PLAINTEXT);
    assert.match(
      vars.get('PASSWORD') ?? '',
      /^[a-z0-9]{24}$/,
      'the password policy: 24 of [a-z0-9]',
    );
    // The serial names a certificate our PKI mount issued, for the common name asked for.
    const serial = vars.get('SERIAL') ?? '';
    assert.match(serial, /^[0-9a-f]{2}(:[0-9a-f]{2})+$/);
    const issued = (await stack.bao.api('GET', `pki/cert/${serial}`))['data'] as {
      certificate?: string;
    };
    assert.match(new X509Certificate(issued.certificate ?? '').subject, /CN=run\.example\.test/);
    assert.deepEqual(
      [...vars.keys()].filter((n) => n.startsWith('VAULT_')),
      [],
      'no VAULT_* in the app',
    );
  });

  it('logs in with approle (role and secret id from the pod spec, the secret id from a Secret)', async () => {
    const { stack, ns } = h;
    await stack.kube.core.createNamespacedSecret({
      namespace: ns,
      body: {
        metadata: { name: 'approle' },
        stringData: { secret_id: stack.fixtures.approle.secretId },
      },
    });
    const run = await storeAndRun(
      restrictedPod(
        'run-approle',
        {
          command: ['/bin/sh', '-c'],
          args: ['env'],
          env: [
            { name: 'USER_NAME', value: REF.user },
            { name: 'VAULT_ROLE_ID', value: stack.fixtures.approle.roleId },
            {
              name: 'VAULT_SECRET_ID',
              valueFrom: { secretKeyRef: { name: 'approle', key: 'secret_id' } },
            },
          ],
        },
        {
          serviceAccountName: 'app',
          annotations: {
            'vault-inject.dev/auth-method': 'approle',
            'vault-inject.dev/auth-path': 'approle',
          },
        },
      ),
    );
    assert.equal(run.result.code, 0, run.result.stderr);
    const vars = parseEnv(run.result.stdout);
    assert.equal(vars.get('USER_NAME'), APP_SECRET.user);
    assert.deepEqual(
      [...vars.keys()].filter((n) => n.startsWith('VAULT_')),
      [],
      'neither the role id nor the secret id reaches the app',
    );
  });

  it('the canary value is nowhere in etcd, the webhook log or the audit log', async () => {
    const { stack } = h;
    const forms = [
      CANARY,
      Buffer.from(CANARY).toString('base64'),
      APP_SECRET.api_key,
      KV1_VALUE,
      TRANSIT_PLAINTEXT,
    ];
    const dump = await stack.kube.etcdDump();
    const everything = Buffer.concat(
      dump.map((kv) => Buffer.concat([Buffer.from(kv.key), kv.value])),
    );
    // The scan sees values: the stored references and plain values are there.
    assert.ok(everything.includes('not-a-reference'), 'etcd dump holds the ConfigMap values');
    assert.ok(dump.some((kv) => kv.key.includes('/pods/') && kv.key.endsWith('/run-busybox')));
    const webhookLog = await readFile(stack.webhook.logPath, 'utf8');
    assert.match(webhookLog, /run-busybox/);
    const auditPath = stack.kube.auditLogPath;
    assert.ok(auditPath);
    const audit = await readFile(auditPath, 'utf8');
    assert.match(audit, /run-busybox/);
    for (const form of forms) {
      assert.ok(!everything.includes(form), 'not in etcd');
      assert.ok(!webhookLog.includes(form), 'not in the webhook log');
      assert.ok(!audit.includes(form), 'not in the audit log');
    }
  });
});
