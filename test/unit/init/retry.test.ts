import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DeadlineError, abortableSleep, withRetry } from '../../../init-binary/src/retry.ts';
import { isRetryable, translate } from '../../../init-binary/src/vault/errors.ts';
import { TransportError } from '../../../init-binary/src/vault/transport.ts';
import { ExitCode } from '../../../init-binary/src/contract/names.ts';
import { exitCodeOf } from '../../../init-binary/src/errors.ts';

/** node-vault's ApiResponseError shape. */
function apiError(statusCode: number, errors: string[] = []): Error {
  return Object.assign(new Error(errors[0] ?? `Status ${statusCode}`), {
    response: { statusCode, body: { errors } },
  });
}

function sequence(errors: unknown[], value = 'ok') {
  let calls = 0;
  return {
    fn: async (): Promise<string> => {
      const e = errors[calls++];
      if (e !== undefined) throw e;
      return value;
    },
    calls: () => calls,
  };
}

const noSleep = { sleep: async () => undefined, random: () => 0.5 };

describe('withRetry + isRetryable', () => {
  it('retries connection errors and 5xx, with backoff and jitter', async () => {
    const delays: number[] = [];
    const s = sequence([new TransportError('ECONNREFUSED', 'x'), apiError(503), apiError(500)]);
    const v = await withRetry(s.fn, {
      signal: new AbortController().signal,
      retryable: isRetryable,
      ...noSleep,
      onRetry: (_e, _a, d) => delays.push(d),
    });
    assert.equal(v, 'ok');
    assert.equal(s.calls(), 4);
    assert.deepEqual(delays, [25, 50, 100]); // random 0.5 × 50·2^n
  });

  it('caps the delay', async () => {
    const delays: number[] = [];
    const s = sequence(Array.from({ length: 8 }, () => apiError(502)));
    await withRetry(s.fn, {
      signal: new AbortController().signal,
      retryable: isRetryable,
      sleep: async () => undefined,
      random: () => 0.999,
      onRetry: (_e, _a, d) => delays.push(d),
    });
    assert.equal(Math.max(...delays), 999);
  });

  for (const status of [400, 401, 403, 404, 405, 412, 429]) {
    it(`never retries a ${status}`, async () => {
      const s = sequence([apiError(status)]);
      await assert.rejects(
        withRetry(s.fn, {
          signal: new AbortController().signal,
          retryable: isRetryable,
          ...noSleep,
        }),
      );
      assert.equal(s.calls(), 1);
    });
  }

  it('stops at the deadline with the last error as the cause', async () => {
    const s = sequence(Array.from({ length: 1000 }, () => new TransportError('ECONNREFUSED', 'x')));
    const deadline = new AbortController();
    let sleeps = 0;
    await assert.rejects(
      withRetry(s.fn, {
        signal: deadline.signal,
        retryable: isRetryable,
        random: () => 0.5,
        // The budget runs out during the third wait.
        sleep: async () => {
          if (++sleeps === 3) deadline.abort();
        },
      }),
      (err: unknown) =>
        err instanceof DeadlineError && err.cause instanceof TransportError && err.attempts === 4,
    );
    assert.equal(s.calls(), 4);
  });

  it('stops when the deadline passes during a wait', async () => {
    const s = sequence([apiError(503), apiError(503)]);
    const deadline = new AbortController();
    await assert.rejects(
      withRetry(s.fn, {
        signal: deadline.signal,
        retryable: isRetryable,
        random: () => 0.5,
        sleep: (_ms, signal) => {
          deadline.abort();
          return abortableSleep(1_000_000, signal);
        },
      }),
      (err: unknown) => err instanceof DeadlineError && err.attempts === 1,
    );
    assert.equal(s.calls(), 1);
  });
});

describe('isRetryable: TLS failures', () => {
  it('never retries a certificate or handshake failure; retries a reset connection', () => {
    assert.equal(isRetryable(new TransportError('SELF_SIGNED_CERT_IN_CHAIN', 'x')), false);
    assert.equal(isRetryable(new TransportError('DEPTH_ZERO_SELF_SIGNED_CERT', 'x')), false);
    assert.equal(isRetryable(new TransportError('ERR_SSL_WRONG_VERSION_NUMBER', 'x')), false);
    assert.equal(isRetryable(new TransportError('ECONNRESET', 'x')), true);
  });
});

describe('translate: exit codes of Vault failures', () => {
  const ctx = { addr: 'http://127.0.0.1:8200', timeoutMs: 10_000, action: 'reading secret/app' };
  const table: [string, unknown, object, number, RegExp][] = [
    [
      '403',
      apiError(403, ['permission denied']),
      {},
      ExitCode.DENIED,
      /Vault denied reading secret\/app \(403 permission denied\)/,
    ],
    [
      'login 400 (wrong role)',
      apiError(400, ['invalid role name "x"']),
      { login: true },
      ExitCode.DENIED,
      /denied/,
    ],
    ['404', apiError(404), {}, ExitCode.CONFIG, /nothing found/],
    ['400', apiError(400, ['bad']), {}, ExitCode.CONFIG, /Vault rejected/],
    ['503 after retries', apiError(503), {}, ExitCode.UNAVAILABLE, /Vault failed/],
    [
      'network',
      new TransportError('ECONNREFUSED', 'x'),
      {},
      ExitCode.UNAVAILABLE,
      /unreachable within 10s while reading secret\/app \(ECONNREFUSED\)/,
    ],
    ['deadline', new DeadlineError(3, apiError(503)), {}, ExitCode.UNAVAILABLE, /last answer 503/],
    [
      'untrusted certificate',
      new TransportError('UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'x'),
      {},
      ExitCode.CONFIG,
      /certificate that could not be verified while reading secret\/app \(UNABLE_TO_VERIFY_LEAF_SIGNATURE\); set VAULT_CACERT/,
    ],
    [
      'name mismatch',
      new TransportError('ERR_TLS_CERT_ALTNAME_INVALID', 'x'),
      {},
      ExitCode.CONFIG,
      /ERR_TLS_CERT_ALTNAME_INVALID/,
    ],
    [
      'HTTPS to a plain HTTP port',
      new TransportError('ERR_SSL_WRONG_VERSION_NUMBER', 'x'),
      {},
      ExitCode.CONFIG,
      /TLS with Vault at .* failed .*check that VAULT_ADDR names an HTTPS listener/,
    ],
    ['other', new TypeError('boom'), {}, ExitCode.SOFTWARE, /unexpected failure/],
  ];
  for (const [name, err, extra, code, message] of table) {
    it(name, () => {
      const t = translate(err, { ...ctx, ...extra });
      assert.equal(exitCodeOf(t), code);
      assert.match(t.message, message);
      assert.equal(t.cause, err);
    });
  }
});
