// A TCP proxy on 127.0.0.1 that adds a round-trip time: every chunk is forwarded half the RTT
// later in each direction, in order (one timer list per delay keeps insertion order), with Nagle
// off on both sides. The init bench puts it between the init programs and OpenBao to stand for a
// Vault some milliseconds away, without any traffic leaving loopback. Half-closed streams stay
// open the other way until that side ends too, as between the two ends themselves.
import { connect, createServer, type Socket } from 'node:net';

export interface DelayProxy {
  /** `http://127.0.0.1:PORT` */
  readonly addr: string;
  close(): Promise<void>;
}

export async function startDelayProxy(target: URL, rttMs: number): Promise<DelayProxy> {
  const oneWay = rttMs / 2;
  const sockets = new Set<Socket>();
  const pipe = (from: Socket, to: Socket): void => {
    from.on('data', (chunk: Buffer) => {
      setTimeout(() => {
        if (!to.destroyed) to.write(chunk);
      }, oneWay);
    });
    from.on('end', () => setTimeout(() => to.end(), oneWay));
    from.on('error', () => to.destroy());
    from.on('close', () => setTimeout(() => to.destroy(), oneWay + 1));
  };
  const server = createServer({ allowHalfOpen: true }, (client) => {
    const upstream = connect({
      port: Number(target.port),
      host: target.hostname,
      allowHalfOpen: true,
    });
    for (const s of [client, upstream]) {
      s.setNoDelay(true);
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    }
    pipe(client, upstream);
    pipe(upstream, client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    addr: `${target.protocol}//127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
