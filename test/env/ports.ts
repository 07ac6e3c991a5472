/** A free TCP port on 127.0.0.1 (asked from the kernel, then released). */
import { createServer } from 'node:net';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/**
 * Starts a server that cannot bind port 0 itself on a free port, and starts it again on another
 * one when the port was taken meanwhile (another stack on the machine): `start` throws an error
 * whose message (with the server's log) says "address already in use" or EADDRINUSE.
 */
export async function listenWithRetry<T>(
  what: string,
  start: (port: number) => Promise<T>,
  attempts = 5,
): Promise<{ proc: T; port: number }> {
  let last: unknown;
  for (let i = 0; i < attempts; i++) {
    const port = await freePort();
    try {
      return { proc: await start(port), port };
    } catch (err) {
      last = err;
      if (!/address already in use|EADDRINUSE/i.test((err as Error).message)) throw err;
    }
  }
  throw new Error(`${what}: every port tried was taken (${attempts} attempts)`, { cause: last });
}
