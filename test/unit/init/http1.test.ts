// The transport's HTTP/1.1 (init-binary/src/vault/http1.ts): a response read from whatever pieces
// the connection delivers, bodies by Content-Length, chunked coding or the connection's end, and
// every malformed or oversized answer refused with node:http's (llhttp's) code for it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  HttpParseError,
  MAX_HEAD_BYTES,
  ResponseReader,
  serializeRequest,
} from '../../../init-binary/src/vault/http1.ts';

const CANARY = `canary-${process.pid}-h1`;

/** Feeds `text` in pieces of `size` bytes; the reader and whether it said complete. */
function feed(text: string | Buffer, size: number, reader = new ResponseReader()): ResponseReader {
  const bytes = Buffer.isBuffer(text) ? text : Buffer.from(text, 'latin1');
  for (let i = 0; i < bytes.length; i += size) {
    if (reader.push(bytes.subarray(i, i + size))) {
      if (i + size < bytes.length) reader.push(bytes.subarray(i + size));
      break;
    }
  }
  return reader;
}

function parseError(code: string): (err: unknown) => boolean {
  return (err) => {
    assert.ok(err instanceof HttpParseError, String(err));
    assert.equal(err.code, code);
    assert.ok(!err.message.includes(CANARY), err.message);
    return true;
  };
}

const JSON_BODY = `{"data":{"password":"${CANARY}"}}`;
const BY_LENGTH = `HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${JSON_BODY.length}\r\n\r\n${JSON_BODY}`;
const CHUNKED =
  'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n' +
  `5;ext=1\r\n${JSON_BODY.slice(0, 5)}\r\n` +
  `${(JSON_BODY.length - 5).toString(16)}\r\n${JSON_BODY.slice(5)}\r\n` +
  '0\r\nX-Trailer: t\r\n\r\n';

describe('ResponseReader', () => {
  for (const [name, text] of [
    ['Content-Length', BY_LENGTH],
    ['chunked', CHUNKED],
  ] as const) {
    it(`reads a ${name} body split at every byte boundary`, () => {
      for (let size = 1; size <= text.length; size++) {
        const r = feed(text, size);
        assert.equal(r.complete, true, `pieces of ${size}`);
        assert.equal(r.status, 200);
        assert.equal(r.body().toString(), JSON_BODY, `pieces of ${size}`);
        assert.equal(r.reusable, true);
        assert.equal(r.rest.length, 0);
      }
    });
  }

  it('keeps bytes past the response in rest (never reused then)', () => {
    const r = feed(`${BY_LENGTH}HTTP/1.1 200 OK\r\n`, 1000);
    assert.equal(r.complete, true);
    assert.equal(r.rest.toString(), 'HTTP/1.1 200 OK\r\n');
  });

  it('a body without a length runs to the connection end, and the connection is not reused', () => {
    const r = feed(`HTTP/1.1 200 OK\r\n\r\n${JSON_BODY}`, 7);
    assert.equal(r.complete, false);
    r.end();
    assert.equal(r.complete, true);
    assert.equal(r.body().toString(), JSON_BODY);
    assert.equal(r.reusable, false);
  });

  it('the connection closed mid-body: ECONNRESET, not a short body', () => {
    for (const text of [BY_LENGTH, CHUNKED]) {
      const r = feed(text.slice(0, -3), 5);
      assert.equal(r.complete, false);
      assert.throws(() => r.end(), parseError('ECONNRESET'));
    }
    assert.throws(() => feed('HTTP/1.1 200 OK\r\nContent-Le', 4).end(), parseError('ECONNRESET'));
  });

  it('Connection: close and HTTP/1.0 without keep-alive are not reused', () => {
    const close = feed('HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}', 3);
    assert.deepEqual([close.complete, close.reusable], [true, false]);
    const old = feed('HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n{}', 3);
    assert.deepEqual([old.complete, old.reusable], [true, false]);
    const kept = feed(
      'HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\n{}',
      3,
    );
    assert.deepEqual([kept.complete, kept.reusable], [true, true]);
  });

  it('204 and a CONNECT answer have no body; an interim 100 is skipped', () => {
    const none = feed('HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n', 2);
    assert.deepEqual([none.complete, none.status, none.body().length], [true, 204, 0]);
    const connect = new ResponseReader({ headOnly: true });
    feed('HTTP/1.1 200 Connection established\r\n\r\n\x16\x03\x01', 4, connect);
    assert.deepEqual([connect.complete, connect.status], [true, 200]);
    assert.deepEqual([...connect.rest], [0x16, 0x03, 0x01]);
    const interim = feed(`HTTP/1.1 100 Continue\r\n\r\n${BY_LENGTH}`, 9);
    assert.deepEqual([interim.complete, interim.status], [true, 200]);
    assert.equal(interim.body().toString(), JSON_BODY);
  });

  it('joins a repeated header and lowercases names', () => {
    const r = feed('HTTP/1.1 200 OK\r\nX-A: 1\r\nx-a: 2\r\nContent-Length: 0\r\n\r\n', 100);
    assert.equal(r.headers.get('x-a'), '1, 2');
  });

  for (const [name, text, code] of [
    ['a bad status line', `HTTP/2 200 OK\r\n\r\n${JSON_BODY}`, 'HPE_INVALID_CONSTANT'],
    ['no status at all', `${JSON_BODY}\r\n\r\n`, 'HPE_INVALID_CONSTANT'],
    ['a status of two digits', 'HTTP/1.1 20 OK\r\n\r\n', 'HPE_INVALID_CONSTANT'],
    [
      'a header without a colon',
      `HTTP/1.1 200 OK\r\n${CANARY}\r\n\r\n`,
      'HPE_INVALID_HEADER_TOKEN',
    ],
    [
      'a bad Content-Length',
      `HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n${JSON_BODY}`,
      'HPE_INVALID_CONTENT_LENGTH',
    ],
    [
      'two different Content-Lengths',
      'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}',
      'HPE_INVALID_CONTENT_LENGTH',
    ],
    [
      'Content-Length and chunked together',
      'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n',
      'HPE_UNEXPECTED_CONTENT_LENGTH',
    ],
    [
      'a bad chunk size',
      `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n${JSON_BODY}`,
      'HPE_INVALID_CHUNK_SIZE',
    ],
    [
      'a chunk longer than its size',
      `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n${JSON_BODY}\r\n0\r\n\r\n`,
      'HPE_STRICT',
    ],
  ] as const) {
    it(`refuses ${name} (${code}), naming no byte of the answer`, () => {
      assert.throws(() => feed(text, 3), parseError(code));
    });
  }

  it('refuses a head larger than 16 KiB, whether or not it ends', () => {
    const big = `HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(MAX_HEAD_BYTES)}\r\n`;
    assert.throws(() => feed(big, 1024), parseError('HPE_HEADER_OVERFLOW'));
    assert.throws(() => feed(`${big}\r\n{}`, 1 << 20), parseError('HPE_HEADER_OVERFLOW'));
  });

  it('refuses a body over the limit: by its Content-Length at once, chunked or unbounded as it grows', () => {
    const limit = { maxBodyBytes: 16 };
    const cl = new ResponseReader(limit);
    assert.throws(
      () => cl.push(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 17\r\n\r\n')),
      parseError('E2BIG'),
    );
    const chunked = new ResponseReader(limit);
    const text =
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n0123456789abcdef\r\n1\r\nx\r\n';
    assert.throws(() => feed(text, 5, chunked), parseError('E2BIG'));
    const unbounded = new ResponseReader(limit);
    assert.throws(
      () => feed(`HTTP/1.1 200 OK\r\n\r\n${'x'.repeat(17)}`, 5, unbounded),
      parseError('E2BIG'),
    );
    const exact = feed(
      'HTTP/1.1 200 OK\r\nContent-Length: 16\r\n\r\n0123456789abcdef',
      4,
      new ResponseReader(limit),
    );
    assert.equal(exact.complete, true);
  });
});

describe('serializeRequest', () => {
  it('writes the request line, the headers and the body', () => {
    const bytes = serializeRequest(
      {
        method: 'POST',
        target: '/v1/auth/jwt/login',
        headers: { host: 'vault:8200', 'content-length': '2' },
      },
      Buffer.from('{}'),
    );
    assert.equal(
      bytes.toString(),
      'POST /v1/auth/jwt/login HTTP/1.1\r\nhost: vault:8200\r\ncontent-length: 2\r\n\r\n{}',
    );
  });

  it('refuses CR, LF, NUL or a character beyond one byte in a header value, naming the header and not the value', () => {
    for (const bad of [
      `${CANARY}\r\nx-injected: 1`,
      `${CANARY}\n`,
      `${CANARY}\0`,
      `${CANARY}\u0100`,
    ]) {
      assert.throws(
        () =>
          serializeRequest({ method: 'GET', target: '/v1/x', headers: { 'X-Vault-Token': bad } }),
        (err: unknown) => {
          assert.ok(err instanceof TypeError);
          assert.match(err.message, /X-Vault-Token/);
          assert.ok(!err.message.includes(CANARY));
          return true;
        },
      );
    }
    assert.throws(
      () => serializeRequest({ method: 'GET', target: '/v1/x y', headers: {} }),
      TypeError,
    );
  });
});
