/**
 * The registry auth units one by one: Basic, a registry token as it is, the token GET (anonymous
 * or with Basic credentials), the OAuth2 refresh-token POST, the challenge we answer, and the
 * dispatch from a challenge to a scheme.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  tokenGetRequest,
  tokenRequest,
} from '../../../../webhook/src/registry/oci/auth/anonymous.ts';
import { authorize } from '../../../../webhook/src/registry/oci/auth/authorize.ts';
import { basicAuthorization } from '../../../../webhook/src/registry/oci/auth/basic.ts';
import { BearerTokens } from '../../../../webhook/src/registry/oci/auth/bearer-token.ts';
import { pickChallenge } from '../../../../webhook/src/registry/oci/auth/challenge.ts';
import { refreshTokenRequest } from '../../../../webhook/src/registry/oci/auth/refresh-token.ts';
import { registryTokenAuthorization } from '../../../../webhook/src/registry/oci/auth/registry-token.ts';
import { context, json, recordingSend } from './context.ts';

const REALM = new URL('https://auth.example/token');
const SCOPE = { service: 'r.example', scope: 'repository:app:pull' };

describe('basic', () => {
  it('is base64 of user:password, an empty password allowed', () => {
    assert.equal(basicAuthorization({ username: 'u', password: 'p:w' }), 'Basic dTpwOnc=');
    assert.equal(
      basicAuthorization({ username: 'u' }),
      `Basic ${Buffer.from('u:').toString('base64')}`,
    );
  });
  it('offers nothing without a user name', () => {
    assert.equal(basicAuthorization(undefined), undefined);
    assert.equal(basicAuthorization({ password: 'p' }), undefined);
  });
});

describe('registry token', () => {
  it('is sent as it is, as a Bearer', () => {
    assert.equal(registryTokenAuthorization({ registryToken: 'RT' }), 'Bearer RT');
    assert.equal(registryTokenAuthorization({}), undefined);
    assert.equal(registryTokenAuthorization(undefined), undefined);
  });
});

describe('token GET (anonymous or Basic)', () => {
  it('anonymous: service and scope in the query, no Authorization', () => {
    const request = tokenGetRequest(REALM, undefined, SCOPE);
    assert.equal(request.method, 'GET');
    assert.equal(
      request.url.href,
      'https://auth.example/token?service=r.example&scope=repository%3Aapp%3Apull',
    );
    assert.equal(request.authorization, undefined);
    assert.equal(REALM.search, '', 'the realm URL is not changed');
  });
  it('with Basic credentials when there are some; no service when the challenge names none', () => {
    const request = tokenGetRequest(
      REALM,
      { username: 'u', password: 'p' },
      { service: undefined, scope: 's' },
    );
    assert.equal(request.url.href, 'https://auth.example/token?scope=s');
    assert.equal(request.authorization, 'Basic dTpw');
  });
});

describe('refresh token (identitytoken)', () => {
  it('is an OAuth2 refresh_token form POST, nothing in the Authorization header', () => {
    const request = refreshTokenRequest(REALM, 'IDT', SCOPE);
    assert.equal(request.method, 'POST');
    assert.equal(request.url, REALM);
    assert.equal(request.authorization, undefined);
    assert.equal(request.contentType, 'application/x-www-form-urlencoded');
    assert.deepEqual(Object.fromEntries(new URLSearchParams(request.body)), {
      grant_type: 'refresh_token',
      refresh_token: 'IDT',
      client_id: 'vault-inject',
      scope: 'repository:app:pull',
      service: 'r.example',
    });
  });
  it('tokenRequest picks it over Basic when the credential has an identity token', () => {
    assert.equal(
      tokenRequest(REALM, { username: 'u', identityToken: 'IDT' }, SCOPE).method,
      'POST',
    );
    assert.equal(tokenRequest(REALM, { username: 'u', password: 'p' }, SCOPE).method, 'GET');
    assert.equal(tokenRequest(REALM, undefined, SCOPE).authorization, undefined);
  });
});

describe('pickChallenge', () => {
  it('Bearer before Basic, nothing for a scheme we do not speak', () => {
    assert.equal(pickChallenge('Basic realm="x", Bearer realm="https://a/t"')?.scheme, 'bearer');
    assert.equal(pickChallenge('Basic realm="x"')?.scheme, 'basic');
    assert.equal(pickChallenge('Negotiate abc'), undefined);
    assert.equal(pickChallenge(undefined), undefined);
  });
});

describe('authorize: a challenge to a scheme', () => {
  const tokens = (token = 'T') => {
    const recorded = recordingSend(() => json({ token }));
    return {
      ...recorded,
      tokens: new BearerTokens({ send: recorded.send, hosts: {}, now: Date.now }),
    };
  };
  const bearer = pickChallenge('Bearer realm="https://auth.example/token",service="r.example"');
  const basic = pickChallenge('Basic realm="r"');
  assert.ok(bearer && basic);

  it('Basic gets the credential, or nothing', async () => {
    const { tokens: t, sent } = tokens();
    const request = { challenge: basic, scope: undefined, fresh: false };
    assert.equal(
      await authorize(context({ username: 'u', password: 'p' }), t, request),
      'Basic dTpw',
    );
    assert.equal(await authorize(context(), t, request), undefined);
    assert.equal(sent.length, 0);
  });
  it('Bearer: a registry token as it is, without asking the realm', async () => {
    const { tokens: t, sent } = tokens();
    const request = { challenge: bearer, scope: undefined, fresh: true };
    assert.equal(await authorize(context({ registryToken: 'RT' }), t, request), 'Bearer RT');
    assert.equal(sent.length, 0);
  });
  it('Bearer: a token from the realm for repository:REPO:pull, anonymously without a credential', async () => {
    const { tokens: t, sent } = tokens('ANON');
    const request = { challenge: bearer, scope: undefined, fresh: false };
    assert.equal(await authorize(context(), t, request), 'Bearer ANON');
    assert.equal(sent[0]?.url.searchParams.get('scope'), 'repository:app:pull');
    assert.equal(sent[0]?.authorization, undefined);
  });
  it('another scheme gets nothing', async () => {
    const { tokens: t } = tokens();
    const challenge = { scheme: 'negotiate', params: {} };
    assert.equal(
      await authorize(context({ username: 'u' }), t, { challenge, scope: undefined, fresh: true }),
      undefined,
    );
  });
});
