/**
 * End-to-end, containers without `command`: pods created through the real kube-apiserver, whose
 * built webhook looks their images up in a real registry (test/env/registry.ts: distribution 2.8,
 * TLS with a CA of the run given by --registry-ca, htpasswd), with the pull secrets stored in the
 * apiserver and read by the webhook through its own RBAC-limited user.
 *
 * Note: the apiserver's ServiceAccount admission plugin copies a service account's
 * imagePullSecrets into a pod that names none, before any webhook runs. To reach the webhook's own
 * service account read, the service-account test's pod names an unrelated (missing) pull secret.
 */
import type { V1Pod } from '@kubernetes/client-node';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startRegistry, type TestRegistry } from '../env/registry.ts';
import { restrictedPod } from '../env/stack.ts';
import { REF, apiMessage, useStack } from './harness.ts';

const INIT = '/vault-inject/bin/vault-inject-env';

// The registry first: its address and CA are flags of the webhook the stack starts.
const registry: TestRegistry = await startRegistry({ auth: 'htpasswd' });
const caDir = await mkdtemp(path.join(tmpdir(), 'vault-inject-e2e-registry-'));
const caFile = path.join(caDir, 'registry-ca.crt');
await writeFile(caFile, registry.ca);

const h = useStack({ webhookArgs: [`--registry-ca=${registry.host}=${caFile}`] });

const STALE_PASSWORD = 'stale-e2e-CANARY-8a41f0';

function dockerConfigJson(password = registry.admin.password): string {
  const auth = Buffer.from(`${registry.admin.username}:${password}`).toString('base64');
  return JSON.stringify({ auths: { [`https://${registry.host}`]: { auth } } });
}

/** A restricted pod running `image` with no command, and one reference. */
function podWithout(name: string, image: string, extra: Partial<V1Pod['spec']> = {}): V1Pod {
  const pod = restrictedPod(
    name,
    { image, env: [{ name: 'DB_PASSWORD', value: REF.password }] },
    { serviceAccountName: extra?.serviceAccountName ?? 'app' },
  );
  delete pod.spec?.containers[0]?.command;
  Object.assign(pod.spec ?? {}, extra);
  return pod;
}

describe('registry lookups through the kube-apiserver', () => {
  before(async () => {
    await registry.pushImage('e2e/web', 'v1', {
      entrypoint: ['/bin/web'],
      cmd: ['--listen', ':8080'],
    });
    await registry.pushIndex('e2e/multi', 'v1', [
      { architecture: 'amd64', entrypoint: ['/amd64/server'], cmd: ['serve'] },
      { architecture: 'arm64', variant: 'v8', entrypoint: ['/arm64/server'], cmd: ['serve'] },
    ]);
    const core = h.stack.kube.core;
    // Pod-level pull secret (kubernetes.io/dockerconfigjson).
    await core.createNamespacedSecret({
      namespace: h.ns,
      body: {
        metadata: { name: 'regcred' },
        type: 'kubernetes.io/dockerconfigjson',
        stringData: { '.dockerconfigjson': dockerConfigJson() },
      },
    });
    // Service-account pull secret, legacy kubernetes.io/dockercfg.
    const auth = Buffer.from(`${registry.admin.username}:${registry.admin.password}`).toString(
      'base64',
    );
    await core.createNamespacedSecret({
      namespace: h.ns,
      body: {
        metadata: { name: 'sa-regcred' },
        type: 'kubernetes.io/dockercfg',
        stringData: { '.dockercfg': JSON.stringify({ [registry.host]: { auth } }) },
      },
    });
    // Pull secrets whose passwords no longer work.
    for (const name of ['stale', 'older']) {
      await core.createNamespacedSecret({
        namespace: h.ns,
        body: {
          metadata: { name },
          type: 'kubernetes.io/dockerconfigjson',
          stringData: { '.dockerconfigjson': dockerConfigJson(`${STALE_PASSWORD}-${name}`) },
        },
      });
    }
    await core.createNamespacedServiceAccount({
      namespace: h.ns,
      body: { metadata: { name: 'builder' }, imagePullSecrets: [{ name: 'sa-regcred' }] },
    });
  });

  after(async () => {
    await registry.stop();
    await rm(caDir, { recursive: true, force: true });
  });

  it('a pod with a pull secret gets its image’s ENTRYPOINT + CMD', async () => {
    const created = await h.stack.kube.core.createNamespacedPod({
      namespace: h.ns,
      body: podWithout('web', `${registry.host}/e2e/web:v1`, {
        imagePullSecrets: [{ name: 'regcred' }],
      }),
    });
    const app = created.spec?.containers[0];
    assert.deepEqual(app?.command, [INIT]);
    assert.deepEqual(app?.args, ['/bin/web', '--listen', ':8080']);
    assert.equal(created.metadata?.annotations?.['vault-inject.dev/status'], 'injected');
  });

  it('the same image again comes from the cache; a container with command asks the registry nothing', async () => {
    const requests = () => registry.countRequests({ uriIncludes: '/v2/e2e/web/' });
    const before = await requests();
    const again = await h.stack.kube.core.createNamespacedPod({
      namespace: h.ns,
      body: podWithout('web-again', `${registry.host}/e2e/web:v1`, {
        imagePullSecrets: [{ name: 'regcred' }],
      }),
    });
    assert.deepEqual(again.spec?.containers[0]?.args, ['/bin/web', '--listen', ':8080']);
    const withCommand = restrictedPod(
      'with-command',
      {
        image: `${registry.host}/e2e/web:v1`,
        command: ['/bin/web'],
        args: ['--flag'],
        env: [{ name: 'DB_PASSWORD', value: REF.password }],
      },
      { serviceAccountName: 'app' },
    );
    const created = await h.stack.kube.core.createNamespacedPod({
      namespace: h.ns,
      body: withCommand,
    });
    assert.deepEqual(created.spec?.containers[0]?.command, [INIT]);
    assert.deepEqual(created.spec?.containers[0]?.args, ['/bin/web', '--flag']);
    assert.equal(await requests(), before, 'the registry was asked again');
  });

  it('the service account’s pull secret (dockercfg), multi-arch, arm64 by node selector', async () => {
    // Waits for the RBAC grant of `before` to reach the apiserver's authorizer.
    const deadline = Date.now() + 10_000;
    let created: V1Pod | undefined;
    let lastError = '';
    for (let i = 0; Date.now() < deadline; i++) {
      try {
        created = await h.stack.kube.core.createNamespacedPod({
          namespace: h.ns,
          body: podWithout(`multi-${i}`, `${registry.host}/e2e/multi:v1`, {
            serviceAccountName: 'builder',
            imagePullSecrets: [{ name: 'not-there' }],
            nodeSelector: { 'kubernetes.io/arch': 'arm64' },
          }),
        });
        break;
      } catch (err) {
        lastError = apiMessage(err);
        if (!/not authorized/.test(lastError)) throw err;
        await new Promise((r) => setTimeout(r, 250));
      }
    }
    assert.ok(created, `never admitted: ${lastError}`);
    assert.deepEqual(created.spec?.containers[0]?.args, ['/arm64/server', 'serve']);
  });

  it('a stale pod secret before the service account’s good one: mutated, as kubelet would pull it', async () => {
    await registry.pushImage('e2e/creds', 'v1', { entrypoint: ['/bin/creds'] });
    const refusals = () => registry.refusedLogins('/v2/e2e/creds/');
    const created = await h.stack.kube.core.createNamespacedPod({
      namespace: h.ns,
      body: podWithout('stale-first', `${registry.host}/e2e/creds:v1`, {
        serviceAccountName: 'builder',
        imagePullSecrets: [{ name: 'stale' }],
      }),
    });
    assert.deepEqual(created.spec?.containers[0]?.args, ['/bin/creds']);
    assert.equal(await refusals(), 1, 'the stale secret was tried first, once');
    const line = h.stack
      .logs(10_000)
      .split('\n')
      .filter((l) => l.includes('"registry lookup"') && l.includes('/e2e/creds:v1'))
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .at(-1);
    assert.equal(line?.credentialSource, `service account secret ${h.ns}/sa-regcred`);
    assert.equal(line?.credentialsTried, 2);

    // Two stale secrets and no other: denied, naming the count.
    await assert.rejects(
      h.stack.kube.core.createNamespacedPod({
        namespace: h.ns,
        body: podWithout('two-stale', `${registry.host}/e2e/creds:v1`, {
          imagePullSecrets: [{ name: 'stale' }, { name: 'older' }],
        }),
      }),
      (err) => {
        const message = apiMessage(err);
        assert.match(message, /not authorized: 2 credentials tried, none accepted: /);
        assert.match(message, new RegExp(`pod secret ${h.ns}/stale; .*pod secret ${h.ns}/older`));
        assert.ok(!message.includes(STALE_PASSWORD));
        return true;
      },
    );
    assert.equal(await refusals(), 3);
  });

  it('without credentials the pod is denied, naming image, registry and reason', async () => {
    await assert.rejects(
      h.stack.kube.core.createNamespacedPod({
        namespace: h.ns,
        body: podWithout('nocreds', `${registry.host}/e2e/web:v1`),
      }),
      (err) => {
        const message = apiMessage(err);
        assert.match(
          message,
          new RegExp(
            `container "app" has no command and its image could not be looked up: image "${registry.host}/e2e/web:v1" \\(registry ${registry.host}\\): not authorized`,
          ),
        );
        assert.ok(!message.includes(registry.admin.password));
        return true;
      },
    );
  });

  it('no registry password in the webhook’s log', async () => {
    assert.ok(!h.stack.logs(10_000).includes(registry.admin.password));
    assert.ok(!h.stack.logs(10_000).includes(STALE_PASSWORD));
  });
});
