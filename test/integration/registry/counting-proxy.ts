/**
 * A TCP proxy on 127.0.0.1 in front of a real server (the kube-apiserver): it counts the
 * connections made through it (each one a TLS handshake with the server behind) and can hold back
 * what the server answers, to play a slow apiserver: on the next new connections for good
 * (`stall`), or on every connection until released (`hold`, then what was held is delivered).
 */
import net from 'node:net';

export interface CountingProxy {
  readonly port: number;
  /** Connections accepted so far. */
  connections(): number;
  /** Hold back the answers of the next `n` new connections for good (Infinity: all new ones). */
  stall(n: number): void;
  /** Hold back every connection's answers while on; off delivers what was held. */
  hold(on: boolean): void;
  close(): Promise<void>;
}

interface Link {
  readonly client: net.Socket;
  readonly stalled: boolean;
  readonly held: Buffer[];
}

export async function startCountingProxy(target: URL): Promise<CountingProxy> {
  let accepted = 0;
  let toStall = 0;
  let holding = false;
  const links = new Set<Link>();
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    accepted += 1;
    const link: Link = { client, stalled: toStall > 0, held: [] };
    if (link.stalled) toStall -= 1;
    links.add(link);
    const upstream = net.connect(Number(target.port), target.hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => undefined);
    }
    client.pipe(upstream);
    upstream.on('data', (chunk: Buffer) => {
      if (link.stalled || holding) link.held.push(chunk);
      else client.write(chunk);
    });
    client.on('close', () => {
      links.delete(link);
      upstream.destroy();
    });
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
    hold: (on) => {
      holding = on;
      if (on) return;
      for (const link of links) {
        if (link.stalled) continue;
        for (const chunk of link.held.splice(0)) link.client.write(chunk);
      }
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
