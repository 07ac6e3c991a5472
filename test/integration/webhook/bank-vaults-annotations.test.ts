// Bank-Vaults annotations through the BUILT webhook (dist/webhook/vault-inject.js, `make build`) over
// HTTPS, and through the built preview (`vault-inject mutate`): the honoured ones change the
// patch (a rendered vault-role template, wrapped exec probes, the init settings), the others come
// back as admission warnings naming them, in the AdmissionReview response and on the preview's
// stderr.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import fjp from 'fast-json-patch';
import { INIT_PROGRAM } from '../../../init-binary/src/contract/names.ts';
import { registryAvailable, startRegistry, type TestRegistry } from '../../env/registry.ts';
import { BUILT_WEBHOOK, imageReview, postJson } from '../registry/built-webhook.ts';

type Json = Record<string, unknown>;
const BV = 'vault.security.banzaicloud.io/';

const POD = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: {
    name: 'web-0',
    annotations: {
      [`${BV}vault-role`]: '{{.namespace}}-{{ .name }}',
      [`${BV}mutate-probes`]: 'true',
      [`${BV}vault-env-delay`]: '2s',
      [`${BV}log-level`]: 'debug',
      [`${BV}enable-json-log`]: 'false',
      [`${BV}transit-batch-size`]: '10',
      [`${BV}vault-agent-configmap`]: 'agent',
      [`${BV}vault-ct-configmap`]: 'ct',
      [`${BV}vault-env-image`]: 'evil/vault-env:latest',
      [`${BV}psp-allow-privilege-escalation`]: 'true',
      'vault-inject.dev/rol': 'typo',
    },
  },
  spec: {
    serviceAccountName: 'web',
    containers: [
      {
        name: 'app',
        image: 'app:1',
        command: ['/app'],
        env: [{ name: 'DB', value: 'vault:secret/data/db#password' }],
        readinessProbe: { exec: { command: ['/ready'] } },
      },
    ],
  },
};

const WARNED = [
  `annotation ${BV}vault-agent-configmap ignored: Vault Agent is not supported`,
  `annotation ${BV}vault-ct-configmap ignored: consul-template is not supported`,
  `annotation ${BV}vault-env-image ignored: a pod cannot choose the init program's image`,
  `annotation ${BV}psp-allow-privilege-escalation: "true" ignored: the copy init container never allows privilege escalation`,
  'annotation "vault-inject.dev/rol" is not one this webhook knows',
];

describe('Bank-Vaults annotations through the built webhook', () => {
  let webhook: ChildProcess;
  let port = 0;
  const lines: string[] = [];
  let registry: TestRegistry | undefined;

  before(async () => {
    // A registry whose certificate the webhook cannot verify (its CA is not given).
    if (registryAvailable()) {
      registry = await startRegistry({ auth: 'none' });
      await registry.pushImage('apps/web', 'v1', { entrypoint: ['/bin/web'], cmd: ['--serve'] });
    }
    webhook = spawn(
      process.execPath,
      [
        BUILT_WEBHOOK,
        'webhook',
        '--self-signed',
        '--listen=127.0.0.1:0',
        '--telemetry-listen=127.0.0.1:0',
        '--shutdown-delay=0s',
        '--read-sources=false',
        '--allow-registry-skip-verify',
      ],
      // No Kubernetes API: no pull secrets.
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, KUBECONFIG: '/nonexistent' } },
    );
    const collect = (chunk: Buffer): void => {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    };
    webhook.stdout?.on('data', collect);
    webhook.stderr?.on('data', collect);
    const deadline = Date.now() + 30_000;
    while (port === 0) {
      const up = lines.find((l) => l.includes('"webhook listening"'));
      if (up) port = (JSON.parse(up) as Json).admissionPort as number;
      else if (Date.now() > deadline || webhook.exitCode !== null) {
        throw new Error(`webhook did not start: ${lines.join('\n')}`);
      } else await new Promise((r) => setTimeout(r, 50));
    }
  });

  after(async () => {
    if (webhook && webhook.exitCode === null) {
      const exited = new Promise((r) => webhook.once('exit', r));
      webhook.kill('SIGTERM');
      await exited;
    }
    await registry?.stop();
  });

  it('registry-skip-verify (allowed): that pod looks its image up unverified; others stay verified', async (t) => {
    if (!registry) return t.skip('docker-registry is not installed (scripts/components.sh)');
    const image = `${registry.host}/apps/web:v1`;
    const review = (uid: string, skip: boolean) => {
      const r = imageReview(uid, image);
      if (skip) {
        const object = r.request.object as { metadata: Record<string, unknown> };
        object.metadata.annotations = { [`${BV}registry-skip-verify`]: 'true' };
      }
      return r;
    };
    // Verified first: refused (unknown CA). Then the pod that asks: looked up. Then verified again:
    // still refused, the other lookup's answer was not shared.
    const before = (await postJson(port, review('rsv-1', false)))['response'] as Json;
    assert.equal(before['allowed'], false, JSON.stringify(before));
    assert.match(JSON.stringify(before['status']), /could not be looked up/);
    const asked = (await postJson(port, review('rsv-2', true)))['response'] as Json;
    assert.equal(asked['allowed'], true, JSON.stringify(asked));
    const patch = Buffer.from(String(asked['patch']), 'base64').toString('utf8');
    assert.ok(patch.includes('/bin/web') && patch.includes('--serve'), patch);
    const after = (await postJson(port, review('rsv-3', false)))['response'] as Json;
    assert.equal(after['allowed'], false, JSON.stringify(after));
  });

  it('honours what it can and names the rest in warnings, in the AdmissionReview response', async () => {
    const json = await postJson(port, {
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      request: {
        uid: 'bv-1',
        kind: { group: '', version: 'v1', kind: 'Pod' },
        operation: 'CREATE',
        namespace: 'shop',
        object: POD,
      },
    });
    const response = json['response'] as {
      allowed: boolean;
      warnings?: string[];
      patch?: string;
    };
    assert.equal(response.allowed, true);
    const warnings = response.warnings ?? [];
    assert.equal(warnings.length, WARNED.length, warnings.join('\n'));
    for (const w of WARNED)
      assert.ok(
        warnings.some((x) => x.startsWith(w)),
        `no warning ${w}`,
      );
    const patch = JSON.parse(Buffer.from(response.patch ?? '', 'base64').toString('utf8'));
    const text = JSON.stringify(patch);
    const pod = fjp.applyPatch(structuredClone(POD), patch, true, false).newDocument;
    const app = pod.spec.containers[0] as (typeof POD)['spec']['containers'][number];
    const values = Object.fromEntries(app.env.map((e) => [e.name, e.value]));
    assert.equal(values['VAULT_ROLE'], 'shop-web-0');
    assert.equal(values['VAULT_ENV_DELAY'], '2s');
    assert.equal(values['VAULT_LOG_LEVEL'], 'debug');
    assert.equal(values['VAULT_JSON_LOG'], 'false');
    assert.equal(values['VAULT_TRANSIT_BATCH_SIZE'], '10');
    assert.deepEqual(app.readinessProbe.exec.command, [INIT_PROGRAM, '/ready']);
    assert.ok(!text.includes('evil/vault-env'), 'the pod chose an image');
  });
});

describe('Bank-Vaults annotations through the built preview', () => {
  it('prints the same warnings on stderr, the mutated pod on stdout', () => {
    const r = spawnSync(process.execPath, [BUILT_WEBHOOK, 'mutate', '-f', '-', '-o', 'json'], {
      input: JSON.stringify({ ...POD, metadata: { ...POD.metadata, namespace: 'shop' } }),
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr);
    const warnings = r.stderr.trim().split('\n');
    assert.equal(warnings.length, WARNED.length, r.stderr);
    for (const w of WARNED) {
      assert.ok(
        warnings.some((x) => x.includes(`: warning: ${w}`)),
        `no warning ${w}: ${r.stderr}`,
      );
    }
    const pod = JSON.parse(r.stdout) as typeof POD;
    const role = (pod.spec.containers[0]?.env ?? []).find((e) => e.name === 'VAULT_ROLE');
    assert.equal(role?.value, 'shop-web-0');
  });
});
