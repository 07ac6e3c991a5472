/** Bearer tokens from a realm: the request, the cache per credential, early renewal, failures. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  BearerTokens,
  parseTokenResponse,
} from '../../../../webhook/src/registry/oci/auth/bearer-token.ts';
import type { RegistryError } from '../../../../webhook/src/registry/oci/errors.ts';
import { context, json, recordingSend } from './context.ts';

const challenge = {
  scheme: 'bearer',
  params: { realm: 'https://auth.example/token', service: 'r.example' },
};
const wanted = (fresh = false) => ({ challenge, scope: 'repository:app:pull', fresh });

describe('parseTokenResponse', () => {
  it('token or access_token; expires_in or 60 s', () => {
    assert.deepEqual(parseTokenResponse(Buffer.from('{"token":"a","expires_in":5}')), {
      token: 'a',
      expiresIn: 5,
    });
    assert.deepEqual(parseTokenResponse(Buffer.from('{"access_token":"b"}')), {
      token: 'b',
      expiresIn: 60,
    });
    assert.equal(parseTokenResponse(Buffer.from('{"token":""}')), undefined);
    assert.equal(parseTokenResponse(Buffer.from('not json')), undefined);
  });
});

describe('BearerTokens', () => {
  it('asks the realm once per credential and keeps the token until 10 s before it expires', async () => {
    let now = 1_000_000;
    let n = 0;
    const { send, sent } = recordingSend(() => json({ token: `T${++n}`, expires_in: 60 }));
    const tokens = new BearerTokens({ send, hosts: {}, now: () => now });
    const alice = context({ username: 'alice', password: 'a' });
    assert.equal(await tokens.token(alice, wanted()), 'T1');
    assert.equal(await tokens.token(alice, wanted()), 'T1');
    assert.equal(await tokens.token(context(), wanted()), 'T2', 'anonymous is another identity');
    now += 49_000;
    assert.equal(await tokens.token(alice, wanted()), 'T1');
    now += 2_000;
    assert.equal(await tokens.token(alice, wanted()), 'T3', 'renewed 10 s early');
    assert.equal(await tokens.token(alice, wanted(true)), 'T4', 'fresh skips the cache');
    assert.equal(sent.length, 4);
    assert.equal(sent[0]?.caFrom, 'r.example', 'the registry CA applies to its realm');
    assert.equal(sent[0]?.accept, 'application/json');
  });

  it('a refusal is unauthorized naming the source; no token is a protocol error; no realm', async () => {
    const refusing = new BearerTokens({
      send: recordingSend(() => json({}, 401)).send,
      hosts: {},
      now: Date.now,
    });
    await assert.rejects(
      refusing.token(context({ username: 'u', password: 'SECRET-CANARY' }), wanted()),
      (error: RegistryError) =>
        error.code === 'unauthorized' &&
        /token endpoint auth\.example: HTTP 401 with credentials from pod secret ns\/regcred/.test(
          error.message,
        ) &&
        !error.message.includes('SECRET-CANARY'),
    );
    const empty = new BearerTokens({
      send: recordingSend(() => json({})).send,
      hosts: {},
      now: Date.now,
    });
    await assert.rejects(empty.token(context(), wanted()), {
      code: 'protocol',
      message: /sent no token/,
    });
    const noRealm = { challenge: { scheme: 'bearer', params: {} }, scope: 's', fresh: false };
    await assert.rejects(empty.token(context(), noRealm), {
      code: 'unauthorized',
      message: /without a realm/,
    });
  });
});
