// The init bench's delaying proxy (scripts/bench/delay-proxy.ts) forwards every byte, in order, both
// ways, and passes the end of a stream on. No timing is asserted here; the bench measures it.
import assert from 'node:assert/strict';
import { connect, createServer, type AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { startDelayProxy } from '../../../scripts/bench/delay-proxy.ts';

describe('delay proxy', () => {
  it('forwards both directions in order and ends the stream', async () => {
    // An upstream that answers every chunk with "<chunk>!" and ends when the client ends.
    const upstream = createServer((s) => {
      s.on('data', (c: Buffer) => s.write(`${c.toString()}!`));
      s.on('end', () => s.end('bye'));
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    const { port } = upstream.address() as AddressInfo;
    const proxy = await startDelayProxy(new URL(`http://127.0.0.1:${port}`), 4);
    try {
      assert.match(proxy.addr, /^http:\/\/127\.0\.0\.1:\d+$/);
      const client = connect(Number(new URL(proxy.addr).port), '127.0.0.1');
      let got = '';
      client.on('data', (c: Buffer) => (got += c.toString()));
      const ended = new Promise<void>((r) => client.on('end', r));
      const parts = Array.from({ length: 50 }, (_, i) => `<${i}>`);
      for (const p of parts) {
        client.write(p);
        await new Promise((r) => setImmediate(r));
      }
      client.end();
      await ended;
      // Chunks may merge on the way; the bytes and their order may not change.
      assert.equal(got.replace(/!/g, ''), `${parts.join('')}bye`);
      assert.ok(got.endsWith('bye'));
    } finally {
      await proxy.close();
      await new Promise((r) => upstream.close(r));
    }
  });
});
