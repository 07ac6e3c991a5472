/**
 * A TCP forwarder, run as its own process by the local node (test/env/node.ts):
 *
 *   node test/env/forwarder.ts LISTEN_HOST:PORT TARGET_HOST:PORT
 *
 * The pods reach OpenBao (on 127.0.0.1) through it, on the pod bridge's host address, so that no
 * pod needs hostNetwork. Exits 98 when the listening address is taken (the caller retries).
 */
import net from 'node:net';

const [listen = '', target = ''] = process.argv.slice(2);
const split = (hostPort: string): [string, number] => {
  const i = hostPort.lastIndexOf(':');
  return [hostPort.slice(0, i), Number(hostPort.slice(i + 1))];
};
const [listenHost, listenPort] = split(listen);
const [targetHost, targetPort] = split(target);
if (!listenHost || !listenPort || !targetHost || !targetPort) {
  process.stderr.write('usage: forwarder.ts LISTEN_HOST:PORT TARGET_HOST:PORT\n');
  process.exit(2);
}

const server = net.createServer((client) => {
  const upstream = net.connect(targetPort, targetHost);
  client.pipe(upstream).pipe(client);
  const close = (): void => {
    client.destroy();
    upstream.destroy();
  };
  client.on('error', close);
  upstream.on('error', close);
});
server.on('error', (err: NodeJS.ErrnoException) => {
  process.stderr.write(`forwarder: ${err.code ?? ''} ${err.message}\n`);
  process.exit(err.code === 'EADDRINUSE' ? 98 : 1);
});
server.listen(listenPort, listenHost, () => {
  process.stderr.write(`forwarder: ${listen} -> ${target}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
