/**
 * A TCP proxy on 127.0.0.1 in front of a real server (the kube-apiserver): it counts the
 * connections made through it (each one a TLS handshake with the server behind) and can stall
 * connections, holding back everything the server answers on them, to play a slow apiserver.
 */
import net from 'node:net';

export interface CountingProxy {
  readonly port: number;
  /** Connections accepted so far. */
  connections(): number;
  /** Stall the next `n` new connections (Infinity: all). */
  stall(n: number): void;
  close(): Promise<void>;
}

export async function startCountingProxy(target: URL): Promise<CountingProxy> {
  let accepted = 0;
  let toStall = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    accepted += 1;
    const stalled = toStall > 0;
    if (stalled) toStall -= 1;
    const upstream = net.connect(Number(target.port), target.hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => undefined);
    }
    client.pipe(upstream);
    // A stalled connection never delivers the server's answer.
    if (!stalled) upstream.pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return {
    port: typeof address === 'object' && address !== null ? address.port : 0,
    connections: () => accepted,
    stall: (n) => {
      toStall = n;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
