// A container that brings its own Vault token (VAULT_TOKEN, VAULT_TOKEN_FILE) keeps using it, as
// with Bank-Vaults: vault-env 1.23.0 (main.go) and vault-sdk v0.12.0 (vault/client.go) use a token
// before any login. The webhook writes VAULT_AUTH_METHOD there only when someone asked for one.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fjp from 'fast-json-patch';
import type { EnvVar, Pod } from '../../../webhook/src/mutation/types.ts';
import { appPod, decodePatch, fakeReader, harness, podReview, postReview } from './helpers.ts';

const SIDE = {
  name: 'side',
  image: 'registry.example/side:1',
  command: ['/side'],
  env: [{ name: 'DB', value: 'vault:secret/data/app#db' }],
};
const podWith = (env: EnvVar[], annotations: Record<string, string> = {}): Pod =>
  appPod(annotations, { env, containers: [SIDE] });

async function methods(pod: Pod, flags: Record<string, string> = {}) {
  const h = harness(flags, fakeReader({ secrets: {}, configmaps: {} }));
  const res = await postReview(h, podReview(pod, { namespace: 'apps' }));
  assert.equal(res.statusCode, 200, res.body);
  const { response } = res.json();
  assert.equal(response.allowed, true, response.status?.message);
  const ops = decodePatch(response.patch) as fjp.Operation[];
  const after = fjp.applyPatch(structuredClone(pod), ops, true, false).newDocument;
  const of = (i: number) =>
    (after.spec.containers[i]?.env ?? [])
      .filter((e) => e.name === 'VAULT_AUTH_METHOD')
      .map((e) => e.value);
  return { app: of(0), side: of(1) };
}

describe('VAULT_AUTH_METHOD and a token the container brings', () => {
  const tokens: [string, EnvVar][] = [
    ['VAULT_TOKEN', { name: 'VAULT_TOKEN', value: 's.abc' }],
    [
      'VAULT_TOKEN from a Secret',
      { name: 'VAULT_TOKEN', valueFrom: { secretKeyRef: { name: 't', key: 'token' } } },
    ],
    ['VAULT_TOKEN_FILE', { name: 'VAULT_TOKEN_FILE', value: '/vault/.vault-token' }],
  ];
  for (const [label, token] of tokens) {
    it(`${label}: not written there (the init program uses the token), written elsewhere`, async () => {
      assert.deepEqual(await methods(podWith([token])), { app: [], side: ['kubernetes'] });
    });
  }

  it('VAULT_TOKEN=vault:login is no token: the method is written', async () => {
    const pod = podWith([{ name: 'VAULT_TOKEN', value: 'vault:login' }]);
    assert.deepEqual(await methods(pod), { app: ['kubernetes'], side: ['kubernetes'] });
  });

  it('an auth-method annotation (ours or Bank-Vaults) is written over the token', async () => {
    const token = { name: 'VAULT_TOKEN', value: 's.abc' };
    for (const key of [
      'vault-inject.dev/auth-method',
      'vault.security.banzaicloud.io/vault-auth-method',
    ]) {
      const pod = podWith([token], { [key]: 'jwt' });
      assert.deepEqual(await methods(pod), { app: ['jwt'], side: ['jwt'] }, key);
    }
  });

  it('an operator default other than kubernetes is written too', async () => {
    const pod = podWith([{ name: 'VAULT_TOKEN', value: 's.abc' }]);
    assert.deepEqual(await methods(pod, { 'auth-method': 'jwt' }), { app: ['jwt'], side: ['jwt'] });
  });
});
