/**
 * One apiserver read, bounded and retried (webhook/src/k8s/read-retry.ts), with fakes where only
 * the timing matters; and a read that got no answer denying the review as it is, not as the
 * image's failure (the registry failure policy never admits it).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ErrorCode, WebhookError } from '../../../webhook/src/errors.ts';
import {
  httpStatusOf,
  readWithRetry,
  type FailedRead,
} from '../../../webhook/src/k8s/read-retry.ts';
import { registryCommandLookup } from '../../../webhook/src/registry/oci/pod-command.ts';

const target = { kind: 'secret', namespace: 'apps', name: 'regcred' } as const;
const never = (): Promise<never> => new Promise(() => undefined);
const apiError = (code: number) => Object.assign(new Error(`HTTP-Code: ${code} body`), { code });

describe('readWithRetry', () => {
  it('an answer, at once', async () => {
    assert.equal(await readWithRetry(target, () => Promise.resolve(7), { timeoutMs: 50 }), 7);
  });

  it('no answer: two attempts, each logged with its cause, a new pool between, then E_KUBERNETES_READ', async () => {
    const failed: FailedRead[] = [];
    let renewed = 0;
    let calls = 0;
    const policy = {
      timeoutMs: 20,
      onFailedAttempt: (f: FailedRead) => failed.push(f),
      beforeRetry: () => (renewed += 1),
    };
    await assert.rejects(
      readWithRetry(target, () => ((calls += 1), never()), policy),
      (err: unknown) =>
        err instanceof WebhookError &&
        err.code === ErrorCode.KUBERNETES_READ &&
        err.message ===
          'secret apps/regcred could not be read from the Kubernetes API: no answer within 20 ms (2 tries)',
    );
    assert.equal(calls, 2);
    assert.equal(renewed, 1);
    assert.deepEqual(
      failed.map((f) => [f.attempt, f.status, f.cause]),
      [
        [1, 'timeout', 'no answer within 20 ms'],
        [2, 'timeout', 'no answer within 20 ms'],
      ],
    );
  });

  it('the second attempt answers', async () => {
    let calls = 0;
    const read = () => (++calls === 1 ? never() : Promise.resolve('ok'));
    assert.equal(await readWithRetry(target, read, { timeoutMs: 20 }), 'ok');
  });

  it('an HTTP answer is returned as it is: 403 and 404 at once, 503 and 429 retried', async () => {
    for (const code of [403, 404]) {
      let calls = 0;
      await assert.rejects(
        readWithRetry(target, () => ((calls += 1), Promise.reject(apiError(code))), {
          timeoutMs: 20,
        }),
        { code },
      );
      assert.equal(calls, 1, String(code));
    }
    for (const code of [429, 503]) {
      let calls = 0;
      await assert.rejects(
        readWithRetry(target, () => ((calls += 1), Promise.reject(apiError(code))), {
          timeoutMs: 20,
        }),
        { code: ErrorCode.KUBERNETES_READ, message: new RegExp(`: HTTP ${code} \\(2 tries\\)$`) },
      );
      assert.equal(calls, 2, String(code));
    }
  });

  it('a connection error is retried and named by its code', async () => {
    const reset = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
    await assert.rejects(
      readWithRetry(target, () => Promise.reject(reset), { timeoutMs: 20 }),
      {
        message: /: ECONNRESET: socket hang up \(2 tries\)$/,
      },
    );
  });

  it('the review giving up ends it at once with its reason', async () => {
    const review = new AbortController();
    setTimeout(() => review.abort(new Error('review over')), 10);
    await assert.rejects(readWithRetry(target, never, { timeoutMs: 5000 }, review.signal), {
      message: 'review over',
    });
  });
});

describe('httpStatusOf', () => {
  it('the code of an apiserver answer, never a DOMException code (TimeoutError is 23)', () => {
    assert.equal(httpStatusOf(apiError(403)), 403);
    assert.equal(httpStatusOf(new DOMException('timed out', 'TimeoutError')), undefined);
    assert.equal(httpStatusOf(Object.assign(new Error('x'), { code: 23 })), undefined);
    assert.equal(httpStatusOf(Object.assign(new Error('x'), { code: 'ECONNRESET' })), undefined);
  });
});

describe('registryCommandLookup: a read that got no answer', () => {
  it('denies as it is (E_KUBERNETES_READ), not as an image that could not be looked up', async () => {
    const timeout = new WebhookError(
      ErrorCode.KUBERNETES_READ,
      'secret apps/regcred could not be read',
    );
    const commands = registryCommandLookup({
      lookup: { lookup: () => assert.fail('no lookup without the credentials') },
      secrets: {
        readSecrets: () => Promise.reject(timeout),
        serviceAccountPullSecrets: () => Promise.resolve([]),
      },
    });
    const request = {
      image: 'r.example/app:v1',
      namespace: 'apps',
      imagePullSecrets: ['regcred'],
      container: { list: 'containers', index: 0, name: 'app' },
    } as const;
    await assert.rejects(
      commands.lookup(request, new AbortController().signal),
      (err) => err === timeout,
    );
  });
});
