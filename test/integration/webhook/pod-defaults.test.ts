// The built webhook (dist/webhook/vault-inject.js, a process configured as a Bank-Vaults
// deployment configures its webhook: by the environment variables Bank-Vaults' webhook reads)
// gives a pod without annotations those defaults: in the init program's environment, and for the
// CA Secret, a volume mounted for the init program. Our flags win over the Bank-Vaults variables,
// a pod's annotations over both; a skip-verify default without --allow-skip-verify stops it at
// start, with every bad default named in one message.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import fjp from 'fast-json-patch';
import { TLS_MOUNT_PATH } from '../../../init-binary/src/contract/index.ts';
import { freePort } from '../../env/ports.ts';
import { BUILT_WEBHOOK, postJson } from '../registry/built-webhook.ts';

const bin = BUILT_WEBHOOK;
const skip = existsSync(bin) ? false : 'dist/webhook is not built (make build)';

type Json = Record<string, unknown>;
interface EnvVar {
  name: string;
  value?: string;
}
interface Container {
  name: string;
  env?: EnvVar[];
  volumeMounts?: { name: string; mountPath: string }[];
}
interface Pod {
  metadata: { annotations?: Record<string, string> };
  spec: { containers: Container[]; volumes?: Json[] };
}

// vault-secrets-webhook 1.23.1, pkg/webhook/config.go: the viper keys read when a pod has no
// annotation (vault_role, vault_path, ...), through AutomaticEnv as upper-case variables.
const BANK_VAULTS_ENV = {
  VAULT_ROLE: 'bv-role',
  VAULT_PATH: 'jwt-apps',
  VAULT_AUTH_METHOD: 'jwt',
  VAULT_NAMESPACE: 'bv-namespace',
  VAULT_TLS_SECRET: 'vault-ca',
  VAULT_CLIENT_TIMEOUT: '25s',
  TRANSIT_KEY_ID: 'bv-key',
  TRANSIT_PATH: 'bv-transit',
  VAULT_IGNORE_MISSING_SECRETS: 'true',
  VAULT_ENV_PASSTHROUGH: 'VAULT_ADDR',
  VAULT_SKIP_VERIFY: 'true',
};

function review(uid: string, annotations: Record<string, string> = {}) {
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid,
      kind: { group: '', version: 'v1', kind: 'Pod' },
      operation: 'CREATE',
      namespace: 'apps',
      object: {
        metadata: { name: `pod-${uid}`, annotations },
        spec: {
          serviceAccountName: 'web',
          containers: [
            {
              name: 'web',
              image: 'registry.example/web:1',
              command: ['/bin/web'],
              env: [{ name: 'DB_PASSWORD', value: 'vault:secret/data/db#password' }],
            },
          ],
        },
      },
    },
  };
}

/** The pod of `body` with the webhook's answer applied (a JSONPatch of `add`s and `replace`s). */
async function mutated(port: number, body: ReturnType<typeof review>): Promise<Pod> {
  const json = await postJson(port, body);
  const response = json.response as { allowed: boolean; patch?: string };
  assert.equal(response.allowed, true, JSON.stringify(json));
  assert.ok(response.patch, 'no patch');
  const ops = JSON.parse(Buffer.from(response.patch, 'base64').toString('utf8'));
  return fjp.applyPatch(structuredClone(body.request.object), ops, true, false).newDocument as Pod;
}

/** The init program's settings the app container got, as name → value. */
function initEnv(pod: Pod): Record<string, string> {
  const env = pod.spec.containers[0]?.env ?? [];
  return Object.fromEntries(
    env.filter((e) => e.name.startsWith('VAULT_')).map((e) => [e.name, e.value ?? '']),
  );
}

describe(
  'built webhook: webhook-wide defaults from Bank-Vaults variables and flags',
  { skip },
  () => {
    let dir: string;
    let port: number;
    let child: ChildProcess;
    let output = '';
    const baseEnv = () => ({
      PATH: process.env.PATH ?? '',
      HOME: dir,
      KUBECONFIG: path.join(dir, 'no-kubeconfig'),
    });

    before(async () => {
      dir = await mkdtemp(path.join(tmpdir(), 'vault-inject-defaults-'));
      const telemetry = await freePort();
      port = await freePort();
      child = spawn(
        process.execPath,
        [
          bin,
          'webhook',
          '--self-signed',
          `--listen=127.0.0.1:${port}`,
          `--telemetry-listen=127.0.0.1:${telemetry}`,
          '--shutdown-delay=0s',
          '--vault-addr=https://vault.corp.example:8200',
          '--allow-skip-verify',
          // A flag wins over the Bank-Vaults variable; our variable too.
          '--default-transit-key=flag-key',
        ],
        {
          env: {
            ...baseEnv(),
            ...BANK_VAULTS_ENV,
            VAULT_INJECT_DEFAULT_NAMESPACE: 'our-namespace',
          },
          stdio: 'pipe',
        },
      );
      child.stdout?.on('data', (c: Buffer) => (output += c.toString('utf8')));
      child.stderr?.on('data', (c: Buffer) => (output += c.toString('utf8')));
      for (let i = 0; ; i++) {
        if (child.exitCode !== null) assert.fail(`webhook exited ${child.exitCode}: ${output}`);
        const ready = await fetch(`http://127.0.0.1:${telemetry}/readyz`).then(
          (r) => r.ok,
          () => false,
        );
        if (ready) break;
        if (i > 200) assert.fail(`webhook not ready: ${output}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    });

    after(async () => {
      if (child?.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    it('a pod without annotations gets every default in its init env', async () => {
      const pod = await mutated(port, review('d1'));
      assert.deepEqual(initEnv(pod), {
        VAULT_ADDR: 'https://vault.corp.example:8200',
        VAULT_ROLE: 'bv-role',
        VAULT_PATH: 'jwt-apps',
        VAULT_AUTH_METHOD: 'jwt',
        VAULT_NAMESPACE: 'our-namespace',
        VAULT_SKIP_VERIFY: 'true',
        VAULT_CACERT: `${TLS_MOUNT_PATH}/ca.crt`,
        VAULT_CLIENT_TIMEOUT: '25s',
        VAULT_IGNORE_MISSING_SECRETS: 'true',
        VAULT_ENV_PASSTHROUGH: 'VAULT_ADDR',
        VAULT_TRANSIT_KEY_ID: 'flag-key',
        VAULT_TRANSIT_PATH: 'bv-transit',
      });
    });

    it('logs the defaults it started with, the Bank-Vaults ones among them', async () => {
      const find = (): Json | undefined =>
        output
          .split('\n')
          .filter((l) => l.startsWith('{'))
          .map((l) => JSON.parse(l) as Json)
          .find((l) => l.msg === 'pod defaults');
      // The line is written once listening; its bytes may still be on their way through the pipe.
      for (let i = 0; i < 100 && find() === undefined; i++)
        await new Promise((r) => setTimeout(r, 50));
      const line = find();
      assert.ok(line, `no "pod defaults" line: ${output}`);
      assert.equal(line.role, 'bv-role');
      assert.equal(line.namespace, 'our-namespace');
      assert.equal(line.transitKey, 'flag-key');
      assert.equal(line.tlsSecret, 'vault-ca');
      assert.equal(line.skipVerify, true);
    });

    it('the CA Secret of the default is a volume, mounted where VAULT_CACERT points', async () => {
      const pod = await mutated(port, review('d2'));
      const volume = (pod.spec.volumes ?? []).find(
        (v) => (v.secret as { secretName?: string } | undefined)?.secretName === 'vault-ca',
      ) as { name: string; secret: { items?: unknown } } | undefined;
      assert.ok(volume, `no volume of Secret vault-ca: ${JSON.stringify(pod.spec.volumes)}`);
      assert.deepEqual(volume.secret.items, [{ key: 'ca.crt', path: 'ca.crt' }]);
      const mount = pod.spec.containers[0]?.volumeMounts?.find((m) => m.name === volume.name);
      assert.equal(mount?.mountPath, TLS_MOUNT_PATH);
    });

    it("the pod's annotations win over every default", async () => {
      const pod = await mutated(
        port,
        review('d3', {
          'vault.security.banzaicloud.io/vault-role': 'own-role',
          'vault.security.banzaicloud.io/vault-tls-secret': 'own-ca',
          'vault.security.banzaicloud.io/vault-skip-verify': 'false',
          'vault.security.banzaicloud.io/vault-ignore-missing-secrets': 'false',
          'vault-inject.dev/namespace': 'own-namespace',
        }),
      );
      const env = initEnv(pod);
      assert.equal(env.VAULT_ROLE, 'own-role');
      assert.equal(env.VAULT_NAMESPACE, 'own-namespace');
      assert.equal(env.VAULT_SKIP_VERIFY, undefined);
      assert.equal(env.VAULT_IGNORE_MISSING_SECRETS, undefined);
      const secrets = (pod.spec.volumes ?? []).flatMap((v) => {
        const name = (v.secret as { secretName?: string } | undefined)?.secretName;
        return name === undefined ? [] : [name];
      });
      assert.deepEqual(secrets, ['own-ca']);
    });

    it('refuses to start with a skip-verify default the operator does not allow, naming every bad default', () => {
      const r = spawnSync(
        process.execPath,
        [bin, 'webhook', '--self-signed', '--listen=127.0.0.1:0', '--default-client-timeout=soon'],
        {
          env: { ...baseEnv(), ...BANK_VAULTS_ENV, VAULT_TLS_SECRET: 'Vault_CA' },
          encoding: 'utf8',
        },
      );
      assert.equal(r.status, 2, r.stderr);
      assert.equal(
        r.stderr,
        [
          'vault-inject: 3 problems with flags and environment variables:',
          '  --default-skip-verify (from VAULT_SKIP_VERIFY): true needs --allow-skip-verify: only the operator may skip TLS verification',
          '  --default-tls-secret (from VAULT_TLS_SECRET): "Vault_CA" is not a valid Secret name',
          '  --default-client-timeout: "soon" is not a positive duration such as 10s, 500ms or 1m',
          '',
        ].join('\n'),
      );
    });
  },
);
