// A floor under the init program for the init bench (scripts/bench/init.ts), never shipped: the
// least a Node program does for the same start: the jwt login, the KV mount lookup and the reads of
// every path the environment's `vault:PATH#KEY` references name (in parallel, like ours), then
// execve of the app. No configuration, no checks, no retries, no deadline, no templates.
//   node init-floor.ts http|net APP      (VAULT_ADDR, VAULT_PATH, VAULT_ROLE, the token file)
// `http`: node:http with a keep-alive agent, as the program's transport does. `net`: HTTP/1.1
// written by hand on node:net sockets (one per request, `connection: close`), to see what node:http
// itself costs at start.
const [mode, app] = process.argv.slice(2);
if ((mode !== 'http' && mode !== 'net') || app === undefined)
  throw new Error('usage: init-floor.ts http|net APP');
const env = process.env;
const addr = new URL(env['VAULT_ADDR'] ?? '');
const fs = process.getBuiltinModule('node:fs');

type Call = (method: string, path: string, body?: string, token?: string) => Promise<unknown>;

function viaHttp(): Call {
  const http = process.getBuiltinModule('node:http');
  const agent = new http.Agent({ keepAlive: true });
  return (method, path, body, token) =>
    new Promise((resolve, reject) => {
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (token) headers['x-vault-token'] = token;
      const req = http.request(
        { host: addr.hostname, port: addr.port, method, path, agent, headers },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (text += c));
          res.on('end', () => resolve(JSON.parse(text)));
        },
      );
      req.on('error', reject);
      req.end(body);
    });
}

function viaNet(): Call {
  const net = process.getBuiltinModule('node:net');
  return (method, path, body = '', token) =>
    new Promise((resolve, reject) => {
      const socket = net.connect(Number(addr.port), addr.hostname);
      const chunks: Buffer[] = [];
      socket.on('data', (c: Buffer) => chunks.push(c));
      socket.on('error', reject);
      socket.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve(JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)));
      });
      const auth = token ? `x-vault-token: ${token}\r\n` : '';
      // write, not end: Go's server cancels a request whose client half-closes (its context).
      socket.write(
        `${method} ${path} HTTP/1.1\r\nhost: ${addr.host}\r\nconnection: close\r\n${auth}` +
          `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
    });
}

const call = mode === 'http' ? viaHttp() : viaNet();
const jwt = fs.readFileSync(env['KUBERNETES_SERVICE_ACCOUNT_TOKEN'] ?? '', 'utf8');
const login = (await call(
  'POST',
  `/v1/auth/${env['VAULT_PATH']}/login`,
  JSON.stringify({ role: env['VAULT_ROLE'], jwt }),
)) as { auth: { client_token: string } };
const token = login.auth.client_token;
const paths = new Set<string>();
for (const value of Object.values(env)) {
  const m = /^vault:([^#]+)#/.exec(value ?? '');
  if (m?.[1]) paths.add(m[1]);
}
const first = [...paths][0] ?? '';
const mount = `/v1/sys/internal/ui/mounts/${first.split('/').slice(0, 2).join('/')}`;
const reads = [mount, ...[...paths].map((p) => `/v1/${p}`)];
await Promise.all(reads.map((path) => call('GET', path, undefined, token)));
process.execve?.(app, [app], {});
