/**
 * End-to-end on the real node (test/env/node.ts), the secrets engines and auth methods: KV v1,
 * transit, PKI and the password policy read through Kubernetes auth, and an AppRole login whose
 * ids never reach the app. The pods are stored through the apiserver and the built webhook and
 * run by the kubelet; the apps print hashes or checks of what they see, never values, and the
 * values are then looked for in etcd, the webhook and audit logs and the node's files.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { restrictedPod } from '../env/stack.ts';
import { APP_SECRET, REF, useStack } from './harness.ts';
import { HASH_ENV_SCRIPT, nodeFiles, parseHashes, readIfThere, runOnNode } from './on-node.ts';

const h = useStack({ node: true, auditLog: true });
/** Values that live only in OpenBao (KV v1, a transit plaintext): checked like the canary. */
const KV1_VALUE = `kv1-${randomBytes(6).toString('hex')}`;
const TRANSIT_PLAINTEXT = `transit-${randomBytes(6).toString('hex')}`;
const sha = (v: string): string => createHash('sha256').update(v).digest('hex');

/** Prints the hashes of every variable, the serial, and whether PASSWORD has the policy's form. */
const ENGINES_SCRIPT = `${HASH_ENV_SCRIPT}; echo "serial=$SERIAL"; echo "$PASSWORD" | grep -qE "^[a-z0-9]{24}$" && echo password-form-ok`;

describe('engines and auth methods on the real node', () => {
  it('reads KV v1, decrypts transit, issues from PKI and generates from the password policy, logged in through Kubernetes auth', async () => {
    const { stack, ns } = h;
    await stack.bao.api('POST', 'kv/e2e', { value: KV1_VALUE });
    const key = stack.fixtures.transitKey;
    const encrypted = await stack.bao.api('POST', `transit/encrypt/${key}`, {
      plaintext: Buffer.from(TRANSIT_PLAINTEXT).toString('base64'),
    });
    const ciphertext = (encrypted['data'] as { ciphertext: string }).ciphertext;
    const run = await runOnNode(
      stack,
      ns,
      restrictedPod(
        'run-engines',
        {
          image: 'docker.io/library/busybox:1.35',
          command: ['/bin/sh', '-c', ENGINES_SCRIPT],
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
    assert.equal(run.exitCode, 0, run.log);
    const vars = parseHashes(run.stdout);
    assert.equal(vars.get('KV1'), sha(KV1_VALUE));
    assert.equal(vars.get('TRANSIT'), sha(TRANSIT_PLAINTEXT));
    assert.match(run.stdout, /^password-form-ok$/m, 'the password policy: 24 of [a-z0-9]');
    // The serial names a certificate our PKI mount issued, for the common name asked for.
    const serial = /^serial=(.*)$/m.exec(run.stdout)?.[1] ?? '';
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
    const run = await runOnNode(
      stack,
      ns,
      restrictedPod(
        'run-approle',
        {
          image: 'docker.io/library/busybox:1.35',
          command: ['/bin/sh', '-c', HASH_ENV_SCRIPT],
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
    assert.equal(run.exitCode, 0, run.log);
    const vars = parseHashes(run.stdout);
    assert.equal(vars.get('USER_NAME'), sha(APP_SECRET.user));
    assert.deepEqual(
      [...vars.keys()].filter((n) => n.startsWith('VAULT_')),
      [],
      'neither the role id nor the secret id reaches the app',
    );
  });

  it('those values are nowhere in etcd, the webhook log, the audit log or the node’s files', async () => {
    const { stack } = h;
    const forms = [KV1_VALUE, TRANSIT_PLAINTEXT, APP_SECRET.user];
    const dump = await stack.kube.etcdDump();
    const everything = Buffer.concat(
      dump.map((kv) => Buffer.concat([Buffer.from(kv.key), kv.value])),
    );
    assert.ok(dump.some((kv) => kv.key.includes('/pods/') && kv.key.endsWith('/run-engines')));
    const webhookLog = await readFile(stack.webhook.logPath, 'utf8');
    assert.match(webhookLog, /run-engines/);
    const audit = await readFile(stack.kube.auditLogPath ?? '', 'utf8');
    assert.match(audit, /run-engines/);
    for (const form of forms) {
      assert.ok(!everything.includes(form), 'not in etcd');
      assert.ok(!webhookLog.includes(form), 'not in the webhook log');
      assert.ok(!audit.includes(form), 'not in the audit log');
    }
    for (const file of nodeFiles(stack)) {
      const content = readIfThere(file);
      for (const form of forms) assert.ok(!content.includes(form), `not in ${file}`);
    }
  });
});
