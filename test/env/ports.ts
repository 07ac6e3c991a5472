/**
 * A free TCP port on 127.0.0.1 (asked from the kernel, then released), and starting servers on
 * such ports without racing another stack on the machine: a server that can bind port 0 should;
 * the others are started again on another port when theirs was taken meanwhile.
 */
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

/** Whether a server's start failed because its address was taken (its log tail says so). */
export function addressInUse(err: unknown): boolean {
  return /address already in use|EADDRINUSE/i.test(
    err instanceof Error ? err.message : String(err),
  );
}

/**
 * Runs `attempt` (which picks its own free ports and starts a server on them) again, up to
 * `attempts` times, while it fails because a port was taken between the pick and the bind (another
 * stack on the machine). Any other failure is thrown at once.
 */
export async function retryOnAddressInUse<T>(
  what: string,
  attempt: () => Promise<T>,
  attempts = 5,
): Promise<T> {
  let last: unknown;
  for (let i = 0; i < attempts; i++) {
    try {
      return await attempt();
    } catch (err) {
      if (!addressInUse(err)) throw err;
      last = err;
    }
  }
  throw new Error(`${what}: every port tried was taken (${attempts} attempts)`, { cause: last });
}

/**
 * Starts a server that cannot bind port 0 itself on a free port, and again on another one when
 * that port was taken meanwhile (`retryOnAddressInUse`). `pick` chooses the port (tests).
 */
export async function listenWithRetry<T>(
  what: string,
  start: (port: number) => Promise<T>,
  attempts = 5,
  pick: () => Promise<number> = freePort,
): Promise<{ proc: T; port: number }> {
  return retryOnAddressInUse(
    what,
    async () => {
      const port = await pick();
      return { proc: await start(port), port };
    },
    attempts,
  );
}
