// The transport node-vault is given (init-binary/src/vault/transport.ts) against a loopback server
// that answers byte by byte as each test scripts it: keep-alive reuse, parallel requests on
// parallel connections, an idle connection the server closed, answers split into pieces, and every
// bad answer failing with its code (never a hang, never a byte of the body in the message).
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import {
  TransportError,
  UnexpectedAnswerError,
  createTransport,
  type RequestFn,
} from '../../../init-binary/src/vault/transport.ts';

const CANARY = `canary-${process.pid}-tr`;

/** What the server does with one request (its head and body as text) on `socket`. */
type Answer = (request: string, socket: Socket) => void;

let server: Server;
let addr: string;
let answer: Answer;
/** Connections opened, and the requests seen, since the test began. */
let connections = 0;
let requests: string[] = [];
const sockets = new Set<Socket>();
/** Called when the server accepts a connection. */
let onConnection: (() => void) | undefined;

before(async () => {
  server = createServer((socket) => {
    connections++;
    onConnection?.();
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    let buffered = '';
    socket.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('latin1');
      for (;;) {
        const end = buffered.indexOf('\r\n\r\n');
        if (end < 0) return;
        const length = Number(/content-length: (\d+)/i.exec(buffered.slice(0, end))?.[1] ?? 0);
        if (buffered.length < end + 4 + length) return;
        const request = buffered.slice(0, end + 4 + length);
        buffered = buffered.slice(end + 4 + length);
        requests.push(request);
        answer(request, socket);
      }
    });
    socket.on('error', () => undefined);
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const a = server.address();
  addr = `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`;
});

after(() => {
  for (const s of sockets) s.destroy();
  server.close();
});

function transport(signal = new AbortController().signal): RequestFn {
  connections = 0;
  requests = [];
  return createTransport({
    https: false,
    addr,
    rejectUnauthorized: true,
    signal: () => signal,
  }).defaults();
}

const json = (body: unknown, extra = ''): string => {
  const text = JSON.stringify(body);
  return `HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n${extra}content-length: ${Buffer.byteLength(text)}\r\n\r\n${text}`;
};

const get = (path: string) => ({
  method: 'GET',
  uri: `${addr}/v1/${path}`,
  headers: { 'X-Vault-Token': 't' },
});

/** The request fails with a TransportError of `code` whose message holds no canary. */
async function failsWith(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof TransportError, String(err));
    assert.equal(err.code, code);
    assert.ok(!err.message.includes(CANARY), err.message);
    return true;
  });
}

describe('the transport on node:net', () => {
  it('sends the request as node-vault gave it: method, path, headers, JSON body', async () => {
    const request = transport();
    answer = (_req, socket) => socket.write(json({ auth: { client_token: 'x' } }));
    const res = await request({
      method: 'POST',
      uri: `${addr}/v1/auth/jwt/login?x=1`,
      headers: { 'X-Vault-Namespace': 'ns1' },
      json: { role: 'app', jwt: 'j' },
    });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.body, { auth: { client_token: 'x' } });
    assert.equal(res.request.path, '/v1/auth/jwt/login');
    const [head, body] = (requests[0] ?? '').split('\r\n\r\n');
    const lines = (head ?? '').split('\r\n');
    assert.equal(lines[0], 'POST /v1/auth/jwt/login?x=1 HTTP/1.1');
    for (const h of [
      `host: ${new URL(addr).host}`,
      'X-Vault-Namespace: ns1',
      'accept: application/json',
      'content-type: application/json',
      `content-length: ${Buffer.byteLength(body ?? '')}`,
    ])
      assert.ok(lines.includes(h), `${h} in ${head}`);
    assert.deepEqual(JSON.parse(body ?? ''), { role: 'app', jwt: 'j' });
  });

  it('opens the first connection ahead, and the first request goes out on it', async () => {
    const accepted = new Promise<void>((done) => (onConnection = done));
    const request = transport();
    await accepted;
    onConnection = undefined;
    assert.equal(connections, 1);
    answer = (_req, socket) => socket.write(json({ data: {} }));
    assert.equal((await request(get('a'))).statusCode, 200);
    assert.deepEqual([connections, requests.length], [1, 1]);
  });

  it('reuses a kept-alive connection for the next request', async () => {
    const request = transport();
    answer = (_req, socket) => socket.write(json({ data: {} }));
    for (let i = 0; i < 4; i++) assert.equal((await request(get(`r${i}`))).statusCode, 200);
    assert.equal(requests.length, 4);
    assert.equal(connections, 1);
  });

  it('runs parallel requests on parallel connections, then reuses them', async () => {
    const request = transport();
    const held: Socket[] = [];
    // Nothing answered until all three arrived: on one connection they would never all arrive.
    answer = (_req, socket) => {
      held.push(socket);
      if (held.length === 3) for (const s of held) s.write(json({ data: {} }));
    };
    await Promise.all(['a', 'b', 'c'].map((p) => request(get(p))));
    assert.equal(connections, 3);
    held.length = 0;
    await Promise.all(['a', 'b', 'c'].map((p) => request(get(p))));
    assert.equal(connections, 3);
  });

  it('opens a new connection when the server closed the idle one, at once or as it is reused', async () => {
    const request = transport();
    answer = (_req, socket) => socket.end(json({ data: {} }, 'connection: close\r\n'));
    await request(get('a'));
    await request(get('b'));
    assert.equal(connections, 2);
    // Keep-alive promised, then the connection dropped as the next request arrives.
    let n = 0;
    answer = (_req, socket) =>
      n++ % 2 === 0 ? socket.write(json({ data: {} })) : socket.destroy();
    connections = 0;
    await request(get('c'));
    const res = await request(get('d'));
    assert.equal(res.statusCode, 200);
    assert.equal(connections, 2);
  });

  it('reads answers however they are split: chunked, one byte at a time, or to the end', async () => {
    const request = transport();
    const body = JSON.stringify({ data: { password: CANARY } });
    const chunked = `HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\n${body.slice(0, 3)}\r\n${(body.length - 3).toString(16)}\r\n${body.slice(3)}\r\n0\r\n\r\n`;
    for (const text of [chunked, json({ data: { password: CANARY } })]) {
      answer = (_req, socket) => {
        const bytes = Buffer.from(text);
        let i = 0;
        const next = (): void => {
          if (i < bytes.length) socket.write(bytes.subarray(i, ++i), next);
        };
        next();
      };
      assert.deepEqual((await request(get('a'))).body, { data: { password: CANARY } });
    }
    answer = (_req, socket) => socket.end(`HTTP/1.1 200 OK\r\n\r\n${body}`);
    assert.deepEqual((await request(get('b'))).body, { data: { password: CANARY } });
  });

  it('an error status keeps its body; 204 has none', async () => {
    const request = transport();
    answer = (_req, socket) =>
      socket.write(json({ errors: ['permission denied'] }).replace('200 OK', '403 Forbidden'));
    const denied = await request(get('a'));
    assert.deepEqual([denied.statusCode, denied.body], [403, { errors: ['permission denied'] }]);
    answer = (_req, socket) => socket.write('HTTP/1.1 204 No Content\r\n\r\n');
    const none = await request(get('b'));
    assert.deepEqual([none.statusCode, none.body], [204, undefined]);
  });

  it('a 200 that is not JSON: UnexpectedAnswerError, without the body', async () => {
    const request = transport();
    const page = `<html>${CANARY}</html>`;
    answer = (_req, socket) =>
      socket.write(`HTTP/1.1 200 OK\r\ncontent-length: ${page.length}\r\n\r\n${page}`);
    await assert.rejects(request(get('a')), (err: unknown) => {
      assert.ok(err instanceof UnexpectedAnswerError);
      assert.ok(!err.message.includes(CANARY));
      return true;
    });
  });

  for (const [name, reply, code] of [
    ['a bad status line', (s: Socket) => s.end(`HTTP/9 ${CANARY}\r\n\r\n`), 'HPE_INVALID_CONSTANT'],
    [
      'a head over 16 KiB',
      (s: Socket) => s.write(`HTTP/1.1 200 OK\r\nx: ${'a'.repeat(17 * 1024)}${CANARY}`),
      'HPE_HEADER_OVERFLOW',
    ],
    [
      'a body over 16 MiB',
      (s: Socket) => s.write('HTTP/1.1 200 OK\r\ncontent-length: 16777217\r\n\r\n{'),
      'E2BIG',
    ],
    [
      'a connection closed mid-body',
      (s: Socket) => s.end(`HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n{"${CANARY}`),
      'ECONNRESET',
    ],
    ['a connection closed before any answer', (s: Socket) => s.destroy(), 'ECONNRESET'],
  ] as const) {
    it(`${name}: a TransportError ${code}, at once`, async () => {
      const request = transport();
      answer = (_req, socket) => reply(socket);
      await failsWith(request(get('a')), code);
    });
  }

  it('a server that never answers: ETIMEDOUT when the deadline aborts, not a hang', async () => {
    const deadline = new AbortController();
    const request = transport(deadline.signal);
    answer = (_req, socket) => {
      socket.write('HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n{');
      deadline.abort();
    };
    await failsWith(request(get('a')), 'ETIMEDOUT');
    await failsWith(request(get('b')), 'ETIMEDOUT');
  });

  it('a refused connection: ECONNREFUSED', async () => {
    const closed = createServer();
    await new Promise<void>((done) => closed.listen(0, '127.0.0.1', done));
    const a = closed.address();
    await new Promise<void>((done) => closed.close(() => done()));
    const port = typeof a === 'object' && a ? a.port : 0;
    const request = createTransport({
      https: false,
      addr: `http://127.0.0.1:${port}`,
      rejectUnauthorized: true,
      signal: () => new AbortController().signal,
    }).defaults();
    await failsWith(
      request({ method: 'GET', uri: `http://127.0.0.1:${port}/v1/x` }),
      'ECONNREFUSED',
    );
  });
});
