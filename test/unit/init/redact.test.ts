// What a failure line may quote of Vault's answer: never a credential of the run, nor anything
// shaped like one; and a successful status whose body is not JSON is an unexpected answer (70).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { exitCodeOf } from '../../../init-binary/src/errors.ts';
import { translate, vaultMessage } from '../../../init-binary/src/vault/errors.ts';
import { REDACTED, redact } from '../../../init-binary/src/vault/redact.ts';
import { UnexpectedAnswerError } from '../../../init-binary/src/vault/transport.ts';

const apiError = (status: number, text: string): unknown => ({
  response: { statusCode: status, body: { errors: [text] } },
});

describe('redact', () => {
  it('cuts out the credentials it is given, wherever they appear', () => {
    assert.equal(
      redact('bad role_id my-role-id-1 with secret zzz-secret', ['my-role-id-1', 'zzz-secret']),
      `bad role_id ${REDACTED} with secret ${REDACTED}`,
    );
    assert.equal(redact('abc', ['abc']), 'abc', 'shorter than 4 characters: too common to cut');
  });
  const shapes: [string, string][] = [
    ['hvs.CAESIJ1u2Pq0aVt3nM5KxY7bZ8wQ', 'a Vault service token'],
    ['s.Bx4Jq8TzP2nV6mK9rL3wY5sA', 'a legacy or OpenBao token'],
    ['eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhcHAifQ.c2lnbmF0dXJl', 'a JWT'],
    ['3f2b8c1e-9d4a-4e7b-8a1c-5b6d7e8f9a0b', 'a UUID (an AppRole secret ID)'],
  ];
  for (const [shape, what] of shapes) {
    it(`cuts out ${what} it was not told about`, () => {
      assert.equal(redact(`token ${shape} is invalid`, []), `token ${REDACTED} is invalid`);
    });
  }
  it('leaves paths, roles and policies alone', () => {
    const text = 'permission denied on secret/data/app for role "app" (policies: default)';
    assert.equal(redact(text, ['role-id-value']), text);
  });
});

describe('vaultMessage', () => {
  it('redacts before cutting at 200 characters, so no part of a credential is left at the cut', () => {
    const secret = 'x'.repeat(30);
    const text = `${'a'.repeat(190)}${secret}`;
    assert.equal(vaultMessage(apiError(400, text), [secret]), `400 ${'a'.repeat(190)}${REDACTED}`);
  });
});

describe('translate', () => {
  it('a 200 answer that is not JSON is unexpected (70), not "not found" (78)', () => {
    const err = translate(new UnexpectedAnswerError(200, '/v1/secret/data/app'), {
      addr: 'http://vault:8200',
      timeoutMs: 10_000,
      action: 'reading secret/data/app',
    });
    assert.equal(exitCodeOf(err), 70);
    assert.match(
      err.message,
      /^Vault's answer to reading secret\/data\/app is not JSON \(HTTP 200\)/,
    );
  });
  it('a denial quotes Vault with the credentials cut out', () => {
    const err = translate(apiError(403, 'token hvs.AAAABBBBCCCCDDDDEEEE and my-secret-id'), {
      addr: 'http://vault:8200',
      timeoutMs: 10_000,
      action: 'reading secret/data/app',
      secrets: ['my-secret-id'],
    });
    assert.equal(exitCodeOf(err), 77);
    assert.match(err.message, /\(403 token \[redacted\] and \[redacted\]\)/);
  });
});
