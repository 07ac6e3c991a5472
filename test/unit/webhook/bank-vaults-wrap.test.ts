// Both webhooks during a migration: a container Bank-Vaults' webhook already wrapped in its
// vault-env is never wrapped a second time. The pods are Bank-Vaults' own output, as data:
// - test/fixtures/admission/bank-vaults-wrapped: the container of vault-secrets-webhook 1.23.1
//   pkg/webhook/pod_test.go, Test_mutatingWebhook_mutateContainers case "Will mutate container
//   with command, no args" (its vaultConfig), with what pkg/webhook/pod.go MutatePod adds around
//   it (the copy-vault-env init container with config.go's default image and resources, the
//   vault-env emptyDir): Bank-Vaults ran first.
// - test/fixtures/admission/bank-vaults-wrapped-after-us: our stored pod (command-args) wrapped
//   the same way with Bank-Vaults' default settings: it ran after us, and we are reinvoked.
// The golden test checks both answers; this file checks the cases around them.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import type { Pod } from '../../../webhook/src/mutation/types.ts';
import { bankVaultsWrapped } from '../../../webhook/src/mutation/detect.ts';
import { FIXTURES, harness, podReview, postReview } from './helpers.ts';

const wrappedPod = (dir: string): Pod =>
  (
    JSON.parse(readFileSync(new URL(`${dir}/review.json`, FIXTURES), 'utf8')) as {
      request: { object: Pod };
    }
  ).request.object;

async function review(pod: Pod) {
  const h = harness();
  const res = await postReview(h, podReview(pod, { namespace: 'apps' }));
  const { response } = res.json();
  const line = JSON.parse(h.logs.at(-1) ?? '{}') as { code?: string };
  return {
    allowed: response.allowed as boolean,
    patched: response.patch !== undefined,
    message: (response.status?.message ?? '') as string,
    code: line.code,
  };
}

describe("a pod Bank-Vaults' webhook already wrapped", () => {
  it('is denied with E_BANK_VAULTS, naming the container and what to do', async () => {
    const pod = wrappedPod('bank-vaults-wrapped');
    // A reference we would accept: the denial is about the wrap, not the upstream test's value.
    const app = pod.spec.containers[0];
    assert.ok(app?.env?.[0]);
    app.env[0] = { name: 'myvar', value: 'vault:secret/data/app#password' };
    const r = await review(pod);
    assert.equal(r.allowed, false);
    assert.equal(r.code, 'E_BANK_VAULTS');
    assert.match(r.message, /container "MyContainer" already runs Bank-Vaults' \/vault\/vault-env/);
    assert.match(r.message, /vault-inject\.dev\/inject: "false"/);
    assert.match(r.message, /docs\/migrating-from-bank-vaults\.md/);
  });

  it('after us: says Bank-Vaults wrapped our init program', async () => {
    const r = await review(wrappedPod('bank-vaults-wrapped-after-us'));
    assert.equal(r.allowed, false);
    assert.equal(r.code, 'E_BANK_VAULTS');
    assert.match(
      r.message,
      /^container "app": Bank-Vaults' webhook put \/vault\/vault-env in front of vault-inject's init program/,
    );
  });

  it('a fresh container beside the wrapped one does not get the pod injected', async () => {
    const pod = wrappedPod('bank-vaults-wrapped');
    pod.spec.containers.push({
      name: 'sidecar',
      image: 'registry.example/sidecar:1',
      command: ['/sidecar'],
      env: [{ name: 'T', value: 'vault:secret/data/app#token' }],
    });
    const r = await review(pod);
    assert.equal(r.allowed, false);
    assert.equal(r.patched, false);
  });

  it('opted out of vault-inject: left to Bank-Vaults, untouched', async () => {
    const optOuts: Record<string, string>[] = [
      { 'vault-inject.dev/inject': 'false' },
      { 'vault.security.banzaicloud.io/mutate': 'skip' },
    ];
    for (const annotations of optOuts) {
      const pod = wrappedPod('bank-vaults-wrapped');
      pod.metadata = { ...pod.metadata, annotations };
      const r = await review(pod);
      assert.equal(r.allowed, true, r.message);
      assert.equal(r.patched, false);
    }
  });

  it('nothing for vault-inject to do (no reference, no annotation): admitted untouched', async () => {
    const pod = wrappedPod('bank-vaults-wrapped');
    const app = pod.spec.containers[0];
    assert.ok(app);
    app.env = app.env?.filter((e) => e.name !== 'myvar');
    const r = await review(pod);
    assert.equal(r.allowed, true, r.message);
    assert.equal(r.patched, false);
  });

  it('from-path under the Bank-Vaults name asks for injection: denied too', async () => {
    const pod = wrappedPod('bank-vaults-wrapped');
    const app = pod.spec.containers[0];
    assert.ok(app);
    app.env = app.env?.filter((e) => e.name !== 'myvar');
    pod.metadata = {
      ...pod.metadata,
      annotations: { 'vault.security.banzaicloud.io/vault-env-from-path': 'secret/data/app' },
    };
    const r = await review(pod);
    assert.equal(r.allowed, false);
    assert.equal(r.code, 'E_BANK_VAULTS');
  });
});

describe('bankVaultsWrapped', () => {
  it('finds nothing in a pod without vault-env, ours included', () => {
    const ours = JSON.parse(
      readFileSync(new URL('command-args/pod-after.json', FIXTURES), 'utf8'),
    ) as Pod;
    assert.deepEqual(bankVaultsWrapped(ours), []);
  });
  it('names wrapped init containers too', () => {
    const pod = wrappedPod('bank-vaults-wrapped');
    pod.spec.initContainers = [
      { name: 'migrate', image: 'm', command: ['/vault/vault-env'], args: ['/migrate'] },
    ];
    const [first] = bankVaultsWrapped(pod);
    assert.match(first ?? '', /^init container "migrate" already runs/);
  });
});
