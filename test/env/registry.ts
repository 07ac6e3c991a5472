/**
 * A real OCI registry for tests: CNCF distribution 2.8 (Debian's `docker-registry`) on 127.0.0.1
 * with a free port, in a temporary directory, with TLS from a CA made for the run and one of:
 *   - `htpasswd`: basic authentication (bcrypt from `htpasswd -B`, else Python's crypt; cost 4,
 *     because the registry verifies the hash on every request);
 *   - `token`: the Bearer token flow. A token service on 127.0.0.1 (in this process) checks basic
 *     credentials and issues ES256 JWTs whose `x5c` certificate the registry trusts through
 *     `rootcertbundle`, exactly as the registry verifies Docker Hub-style tokens;
 *   - `none`: anonymous.
 * The registry's JSON log is kept in the directory (`logPath`) so tests can count requests there.
 * Images are pushed through the registry HTTP API: blobs, configs, manifests, indexes.
 *
 * The binary: $VAULT_INJECT_REGISTRY (from `scripts/components.sh --env`), else
 * /usr/bin/docker-registry.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash, createPrivateKey, randomUUID, sign } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export type RegistryAuth = 'htpasswd' | 'token' | 'none';

export interface User {
  readonly username: string;
  readonly password: string;
}

export interface ImageSpec {
  readonly entrypoint?: readonly string[] | null;
  readonly cmd?: readonly string[] | null;
  readonly os?: string;
  readonly architecture?: string;
  readonly variant?: string;
  /** `oci` (default) or `docker` schema 2 media types. */
  readonly format?: 'oci' | 'docker';
}

export interface IndexOptions {
  /** `oci` (default): an OCI image index; `docker`: a Docker manifest list. */
  readonly format?: 'oci' | 'docker';
  readonly attestations?: boolean;
}

export interface PushedImage {
  readonly digest: string;
  readonly configDigest: string;
}

export interface TestRegistry {
  /** `127.0.0.1:PORT`: the registry part of image references. */
  readonly host: string;
  /** PEM of the CA that signed the registry's (and token service's) certificate. */
  readonly ca: string;
  readonly admin: User;
  readonly dir: string;
  readonly logPath: string;
  /** Token requests the token service answered (token mode). */
  readonly tokenRequests: () => number;
  /** Push a single-platform image; tags it when `tag` is given. */
  pushImage(repository: string, tag: string | undefined, spec: ImageSpec): Promise<PushedImage>;
  /**
   * Push one image per spec and an index over them, tagged `tag`: an OCI image index, or with
   * `format: 'docker'` a Docker manifest list over Docker schema 2 manifests. `attestations` adds,
   * after each image, an attestation manifest (`unknown/unknown`, as `docker buildx` pushes them to
   * Docker Hub).
   */
  pushIndex(
    repository: string,
    tag: string,
    specs: readonly ImageSpec[],
    options?: IndexOptions,
  ): Promise<PushedImage>;
  /** Push a blob as is; its digest. */
  pushBlob(repository: string, body: Buffer): Promise<string>;
  /** Push a manifest or index body as is under `reference` (a tag or its digest); its digest. */
  pushManifest(
    repository: string,
    reference: string,
    mediaType: string,
    body: Buffer,
  ): Promise<string>;
  /** Requests the registry logged as completed, filtered by method, a URI substring, status. */
  countRequests(filter: { method?: string; uriIncludes: string; status?: number }): Promise<number>;
  /**
   * Requests under the URI substring whose Basic credentials the registry refused (htpasswd mode:
   * it logs `error authenticating user "NAME"` for each).
   */
  refusedLogins(uriIncludes: string): Promise<number>;
  /** What the token service was asked, in order: the user name sent (`''`: none), and its answer. */
  tokenAttempts: () => readonly TokenAttempt[];
  stop(): Promise<void>;
}

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip';
const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
const DOCKER_CONFIG = 'application/vnd.docker.container.image.v1+json';
const DOCKER_LAYER = 'application/vnd.docker.image.rootfs.diff.tar.gzip';
const DOCKER_MANIFEST_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
const IN_TOTO = 'application/vnd.in-toto+json';
const SERVICE = 'vault-inject-test-registry';
const ISSUER = 'vault-inject-test-token-service';

export function registryBinary(): string {
  return process.env['VAULT_INJECT_REGISTRY'] ?? '/usr/bin/docker-registry';
}

export function registryAvailable(): boolean {
  return existsSync(registryBinary());
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

async function openssl(dir: string, args: string[]): Promise<void> {
  await run('openssl', args, { cwd: dir });
}

/** A CA, a serving certificate for 127.0.0.1/localhost, and (token mode) a JWT signing certificate. */
async function makeCertificates(dir: string, withSigner: boolean): Promise<void> {
  await openssl(dir, [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    'ca.key',
    '-out',
    'ca.crt',
    '-days',
    '2',
    '-subj',
    '/CN=vault-inject test CA',
  ]);
  await writeFile(
    path.join(dir, 'server.ext'),
    'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n',
  );
  await openssl(dir, [
    'req',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    'server.key',
    '-out',
    'server.csr',
    '-subj',
    '/CN=127.0.0.1',
  ]);
  await openssl(dir, [
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.crt',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'server.crt',
    '-days',
    '2',
    '-extfile',
    'server.ext',
  ]);
  if (withSigner) {
    await openssl(dir, [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      'signer.key',
      '-out',
      'signer.crt',
      '-days',
      '2',
      '-subj',
      '/CN=token signer',
    ]);
  }
}

/** A bcrypt htpasswd line: Apache's htpasswd when installed, else the C library's crypt via Python. */
async function htpasswdLine(user: User): Promise<string> {
  try {
    const { stdout } = await run('htpasswd', ['-nbB', '-C', '4', user.username, user.password]);
    return stdout.trim();
  } catch {
    const script =
      'import crypt,sys; print(sys.argv[1] + ":" + crypt.crypt(sys.argv[2], crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16)))';
    const { stdout } = await run('python3', [
      '-W',
      'ignore',
      '-c',
      script,
      user.username,
      user.password,
    ]);
    const line = stdout.trim();
    if (!line.includes(':$2'))
      throw new Error('no bcrypt available: install apache2-utils (htpasswd)');
    return line;
  }
}

function base64url(data: Buffer | string): string {
  return Buffer.from(data).toString('base64url');
}

export interface TokenAttempt {
  /** The user name of the Basic credentials sent, `''` for an anonymous request. Never a password. */
  readonly username: string;
  readonly status: 200 | 401;
}

interface TokenService {
  readonly url: string;
  readonly requests: () => number;
  readonly attempts: () => readonly TokenAttempt[];
  close(): Promise<void>;
}

/**
 * The token endpoint of the distribution token spec. Grants every requested action to known users
 * with the right password, `pull` on repositories under `public/` to anyone, nothing otherwise.
 */
async function startTokenService(dir: string, users: readonly User[]): Promise<TokenService> {
  const [key, cert, serverKey, serverCert] = await Promise.all(
    ['signer.key', 'signer.crt', 'server.key', 'server.crt'].map((f) =>
      readFile(path.join(dir, f), 'utf8'),
    ),
  );
  const signerKey = createPrivateKey(key ?? '');
  const x5c = (cert ?? '').replace(/-----[A-Z ]+-----|\s/g, '');
  let requests = 0;
  const attempts: TokenAttempt[] = [];

  const server = https.createServer({ key: serverKey, cert: serverCert }, (req, res) => {
    requests += 1;
    const url = new URL(req.url ?? '/', 'https://127.0.0.1');
    const header = req.headers.authorization ?? '';
    const decoded = header.startsWith('Basic ')
      ? Buffer.from(header.slice(6), 'base64').toString()
      : '';
    const user = users.find((u) => decoded === `${u.username}:${u.password}`);
    const username = decoded.split(':')[0] ?? '';
    attempts.push({ username, status: header !== '' && user === undefined ? 401 : 200 });
    if (header !== '' && user === undefined) {
      res
        .writeHead(401, { 'content-type': 'application/json' })
        .end('{"details":"bad credentials"}');
      return;
    }
    const access = url.searchParams.getAll('scope').flatMap((scope) => {
      const [type = '', name = '', actions = ''] = scope.split(':');
      const granted = user ? actions.split(',') : name.startsWith('public/') ? ['pull'] : [];
      return granted.length > 0 ? [{ type, name, actions: granted }] : [];
    });
    const now = Math.floor(Date.now() / 1000);
    const claims = {
      iss: ISSUER,
      sub: user?.username ?? '',
      aud: url.searchParams.get('service') ?? '',
      exp: now + 300,
      nbf: now - 10,
      iat: now,
      jti: randomUUID(),
      access,
    };
    const head = base64url(JSON.stringify({ typ: 'JWT', alg: 'ES256', x5c: [x5c] }));
    const input = `${head}.${base64url(JSON.stringify(claims))}`;
    const signature = sign('sha256', Buffer.from(input), {
      key: signerKey,
      dsaEncoding: 'ieee-p1363',
    });
    const token = `${input}.${base64url(signature)}`;
    res.writeHead(200, { 'content-type': 'application/json' }).end(
      JSON.stringify({
        token,
        access_token: token,
        expires_in: 300,
        issued_at: new Date().toISOString(),
      }),
    );
  });
  const port = await new Promise<number>((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      resolve(typeof address === 'object' && address !== null ? address.port : 0);
    });
  });
  return {
    url: `https://127.0.0.1:${port}/token`,
    requests: () => requests,
    attempts: () => [...attempts],
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function registryConfig(dir: string, port: number, auth: RegistryAuth, realm: string): string {
  const lines = [
    'version: 0.1',
    'log:',
    '  level: info',
    '  formatter: json',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${path.join(dir, 'data')}`,
    'http:',
    `  addr: 127.0.0.1:${port}`,
    '  tls:',
    `    certificate: ${path.join(dir, 'server.crt')}`,
    `    key: ${path.join(dir, 'server.key')}`,
  ];
  if (auth === 'htpasswd') {
    lines.push(
      'auth:',
      '  htpasswd:',
      '    realm: vault-inject-test',
      `    path: ${path.join(dir, 'htpasswd')}`,
    );
  }
  if (auth === 'token') {
    lines.push(
      'auth:',
      '  token:',
      `    realm: ${realm}`,
      `    service: ${SERVICE}`,
      `    issuer: ${ISSUER}`,
      `    rootcertbundle: ${path.join(dir, 'signer.crt')}`,
    );
  }
  return `${lines.join('\n')}\n`;
}

interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

function request(
  ca: string,
  method: string,
  url: string,
  headers: Record<string, string>,
  body?: Buffer,
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method, headers, ca, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function waitUntilUp(
  ca: string,
  host: string,
  child: ChildProcess,
  logPath: string,
): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) {
      const log = await readFile(logPath, 'utf8').catch(() => '');
      throw new Error(`docker-registry exited with ${child.exitCode}:\n${log.slice(-2000)}`);
    }
    try {
      const res = await request(ca, 'GET', `https://${host}/v2/`, {});
      if (res.status === 200 || res.status === 401) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline)
      throw new Error(`docker-registry did not answer on ${host} (log: ${logPath})`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function digestOf(body: Buffer): string {
  return `sha256:${createHash('sha256').update(body).digest('hex')}`;
}

export async function startRegistry(options: {
  auth: RegistryAuth;
  /** Token mode: the realm the registry's 401 names (default: the token service's own URL). */
  realm?: string;
}): Promise<TestRegistry> {
  const dir = await mkdtemp(path.join(tmpdir(), 'vault-inject-registry-'));
  const admin: User = { username: 'admin', password: `pw-${randomUUID()}` };
  await makeCertificates(dir, options.auth === 'token');
  const ca = await readFile(path.join(dir, 'ca.crt'), 'utf8');
  if (options.auth === 'htpasswd')
    await writeFile(path.join(dir, 'htpasswd'), `${await htpasswdLine(admin)}\n`);
  const tokens = options.auth === 'token' ? await startTokenService(dir, [admin]) : undefined;

  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const configPath = path.join(dir, 'config.yml');
  const realm = options.realm ?? tokens?.url ?? '';
  await writeFile(configPath, registryConfig(dir, port, options.auth, realm));
  const logPath = path.join(dir, 'registry.log');
  const { openSync, closeSync } = await import('node:fs');
  const logFd = openSync(logPath, 'a');
  const child = spawn(registryBinary(), ['serve', configPath], { stdio: ['ignore', logFd, logFd] });
  closeSync(logFd);
  try {
    await waitUntilUp(ca, host, child, logPath);
  } catch (error) {
    child.kill('SIGKILL');
    await tokens?.close();
    throw error;
  }

  const tokenCache = new Map<string, string>();
  async function authHeader(repository: string): Promise<Record<string, string>> {
    const basic = `Basic ${Buffer.from(`${admin.username}:${admin.password}`).toString('base64')}`;
    if (options.auth === 'none') return {};
    if (options.auth === 'htpasswd') return { authorization: basic };
    let token = tokenCache.get(repository);
    if (token === undefined) {
      const url = `${tokens?.url}?service=${SERVICE}&scope=repository:${repository}:pull,push`;
      const res = await request(ca, 'GET', url, { authorization: basic });
      token = (JSON.parse(res.body.toString()) as { token: string }).token;
      tokenCache.set(repository, token);
    }
    return { authorization: `Bearer ${token}` };
  }

  async function pushBlob(repository: string, body: Buffer): Promise<string> {
    const digest = digestOf(body);
    const auth = await authHeader(repository);
    const start = await request(ca, 'POST', `https://${host}/v2/${repository}/blobs/uploads/`, {
      ...auth,
      'content-length': '0',
    });
    const location = start.headers.location;
    if (start.status !== 202 || typeof location !== 'string') {
      throw new Error(`blob upload start: HTTP ${start.status} ${start.body.toString()}`);
    }
    const put = new URL(location, `https://${host}`);
    put.searchParams.set('digest', digest);
    const done = await request(
      ca,
      'PUT',
      put.toString(),
      {
        ...auth,
        'content-type': 'application/octet-stream',
        'content-length': String(body.length),
      },
      body,
    );
    if (done.status !== 201)
      throw new Error(`blob upload: HTTP ${done.status} ${done.body.toString()}`);
    return digest;
  }

  async function pushManifest(
    repository: string,
    reference: string,
    mediaType: string,
    body: Buffer,
  ): Promise<string> {
    const res = await request(
      ca,
      'PUT',
      `https://${host}/v2/${repository}/manifests/${reference}`,
      {
        ...(await authHeader(repository)),
        'content-type': mediaType,
        'content-length': String(body.length),
      },
      body,
    );
    if (res.status !== 201)
      throw new Error(`manifest push: HTTP ${res.status} ${res.body.toString()}`);
    return digestOf(body);
  }

  async function pushImage(
    repository: string,
    tag: string | undefined,
    spec: ImageSpec,
  ): Promise<PushedImage> {
    const docker = spec.format === 'docker';
    const layer = Buffer.from(`layer of ${repository} ${randomUUID()}`);
    const layerDigest = await pushBlob(repository, layer);
    const containerConfig: Record<string, unknown> = { Env: ['PATH=/usr/bin:/bin'] };
    if (spec.entrypoint !== undefined) containerConfig['Entrypoint'] = spec.entrypoint;
    if (spec.cmd !== undefined) containerConfig['Cmd'] = spec.cmd;
    const config = Buffer.from(
      JSON.stringify({
        architecture: spec.architecture ?? 'amd64',
        os: spec.os ?? 'linux',
        ...(spec.variant !== undefined ? { variant: spec.variant } : {}),
        config: containerConfig,
        rootfs: { type: 'layers', diff_ids: [digestOf(layer)] },
      }),
    );
    const configDigest = await pushBlob(repository, config);
    const mediaType = docker ? DOCKER_MANIFEST : OCI_MANIFEST;
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType,
        config: {
          mediaType: docker ? DOCKER_CONFIG : OCI_CONFIG,
          digest: configDigest,
          size: config.length,
        },
        layers: [
          { mediaType: docker ? DOCKER_LAYER : OCI_LAYER, digest: layerDigest, size: layer.length },
        ],
      }),
    );
    const digest = await pushManifest(repository, tag ?? digestOf(manifest), mediaType, manifest);
    return { digest, configDigest };
  }

  /** An attestation manifest as buildx pushes it: an in-toto layer, an `unknown` platform. */
  async function pushAttestation(repository: string): Promise<{ digest: string; size: number }> {
    const statement = Buffer.from(JSON.stringify({ _type: 'https://in-toto.io/Statement/v0.1' }));
    const layerDigest = await pushBlob(repository, statement);
    const config = Buffer.from(JSON.stringify({ architecture: 'unknown', os: 'unknown' }));
    const configDigest = await pushBlob(repository, config);
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: { mediaType: OCI_CONFIG, digest: configDigest, size: config.length },
        layers: [
          {
            mediaType: IN_TOTO,
            digest: layerDigest,
            size: statement.length,
            annotations: { 'in-toto.io/predicate-type': 'https://slsa.dev/provenance/v0.2' },
          },
        ],
      }),
    );
    const digest = await pushManifest(repository, digestOf(manifest), OCI_MANIFEST, manifest);
    return { digest, size: manifest.length };
  }

  async function pushIndex(
    repository: string,
    tag: string,
    specs: readonly ImageSpec[],
    options: IndexOptions = {},
  ): Promise<PushedImage> {
    const docker = options.format === 'docker';
    const entryType = docker ? DOCKER_MANIFEST : OCI_MANIFEST;
    const entries = [];
    for (const spec of specs) {
      const image = await pushImage(repository, undefined, {
        ...spec,
        format: docker ? 'docker' : 'oci',
      });
      const body = await request(
        ca,
        'GET',
        `https://${host}/v2/${repository}/manifests/${image.digest}`,
        {
          ...(await authHeader(repository)),
          accept: entryType,
        },
      );
      entries.push({
        mediaType: entryType,
        digest: image.digest,
        size: body.body.length,
        platform: {
          os: spec.os ?? 'linux',
          architecture: spec.architecture ?? 'amd64',
          ...(spec.variant !== undefined ? { variant: spec.variant } : {}),
        },
      });
      if (options.attestations === true) {
        const attestation = await pushAttestation(repository);
        entries.push({
          mediaType: OCI_MANIFEST,
          digest: attestation.digest,
          size: attestation.size,
          platform: { os: 'unknown', architecture: 'unknown' },
          annotations: {
            'vnd.docker.reference.digest': image.digest,
            'vnd.docker.reference.type': 'attestation-manifest',
          },
        });
      }
    }
    const mediaType = docker ? DOCKER_MANIFEST_LIST : OCI_INDEX;
    const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType, manifests: entries }));
    const digest = await pushManifest(repository, tag, mediaType, index);
    return { digest, configDigest: '' };
  }

  /** The registry's log entries with message `msg` (a prefix) under a URI substring. */
  async function logged(msg: string, uriIncludes: string): Promise<Record<string, unknown>[]> {
    const log = await readFile(logPath, 'utf8');
    const entries: Record<string, unknown>[] = [];
    for (const line of log.split('\n')) {
      if (!line.startsWith('{')) continue;
      let entry: Record<string, unknown>;
      try {
        entry = JSON.parse(line) as Record<string, unknown>;
      } catch {
        continue;
      }
      if (typeof entry['msg'] !== 'string' || !entry['msg'].startsWith(msg)) continue;
      const uri = entry['http.request.uri'];
      if (typeof uri !== 'string' || !uri.includes(uriIncludes)) continue;
      entries.push(entry);
    }
    return entries;
  }

  async function countRequests(filter: {
    method?: string;
    uriIncludes: string;
    status?: number;
  }): Promise<number> {
    return (await logged('response completed', filter.uriIncludes)).filter(
      (entry) =>
        (filter.method === undefined || entry['http.request.method'] === filter.method) &&
        (filter.status === undefined || entry['http.response.status'] === filter.status),
    ).length;
  }

  async function refusedLogins(uriIncludes: string): Promise<number> {
    return (await logged('error authenticating user', uriIncludes)).length;
  }

  return {
    host,
    ca,
    admin,
    dir,
    logPath,
    tokenRequests: () => tokens?.requests() ?? 0,
    tokenAttempts: () => tokens?.attempts() ?? [],
    pushImage,
    pushIndex,
    pushBlob,
    pushManifest,
    countRequests,
    refusedLogins,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
        if (child.exitCode === null) child.kill('SIGKILL');
      }
      await tokens?.close();
      if (process.env['VAULT_INJECT_KEEP_TEST_DIRS'] === undefined) {
        await rm(dir, { recursive: true, force: true });
      }
    },
  };
}
