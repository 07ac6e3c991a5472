/**
 * The images the local node pulls, in the storage of a plain-HTTP CNCF distribution registry
 * (Debian's docker-registry), built once per content and cached in
 * $VAULT_INJECT_CACHE/node-images/<key>/, then hard-linked into each node's registry directory:
 *
 *   ghcr.io/vault-inject/vault-inject-init:VERSION   Dockerfile.init's final stage over the built
 *                                                    bundle (the webhook's default --init-image)
 *   registry.k8s.io/pause:3.10.1                     the sandbox image: the static pause program
 *   docker.io/library/busybox:1.35                   busybox-static with /bin/sh and its applets
 *   ghcr.io/vault-inject-test/printenv:1             FROM scratch, one static binary (/printenv,
 *                                                    printenv.c beside this file, musl-gcc -static),
 *                                                    ENTRYPOINT ["/printenv"], CMD ["APP_PASSWORD"],
 *                                                    no shell
 *
 * The node's containerd sends registry.k8s.io, docker.io and ghcr.io to the local registry
 * (hosts.toml mirrors), so pods and the webhook keep their usual image names. The key covers the
 * bundle's files, the Dockerfile, the pause and busybox binaries, printenv.c and this file's
 * recipe version.
 * Images are built with buildah (vfs storage, FROM scratch, no daemon, no network).
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import {
  cp,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rename,
  rm,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { promisify } from 'node:util';
import path from 'node:path';
import { componentPath } from './kube.ts';
import { startProcess, waitUntil, type ServerProcess } from './processes.ts';
import { listenWithRetry } from './ports.ts';

const run = promisify(execFile);
const repoRoot = path.resolve(import.meta.dirname, '../..');
const BUNDLE_DIR = path.join(repoRoot, 'dist/bundle/vault-inject');
const RECIPE = 3;
const PRINTENV_SOURCE = path.join(import.meta.dirname, 'printenv.c');

export const PAUSE_IMAGE = 'registry.k8s.io/pause:3.10.1';
export const BUSYBOX_IMAGE = 'docker.io/library/busybox:1.35';
export const PRINTENV_IMAGE = 'ghcr.io/vault-inject-test/printenv:1';
/** The mirrored registries (hosts.toml), besides the registry's own 127.0.0.1:PORT. */
export const MIRRORED = ['ghcr.io', 'docker.io', 'registry.k8s.io'] as const;
const BUSYBOX_APPLETS = [
  'sh',
  'cat',
  'cut',
  'echo',
  'env',
  'grep',
  'id',
  'kill',
  'ls',
  'printenv',
  'sha256sum',
  'sleep',
  'test',
  'touch',
  'true',
  'wc',
];

export async function initImageName(): Promise<string> {
  const pkg = JSON.parse(await readFile(path.join(repoRoot, 'package.json'), 'utf8')) as {
    version: string;
  };
  return `ghcr.io/vault-inject/vault-inject-init:${pkg.version}`;
}

/** The path of an image name inside the registry (the mirror drops the registry host). */
export function repositoryPath(image: string): string {
  const [host, ...rest] = image.split('/');
  return (MIRRORED as readonly string[]).includes(host ?? '') ? rest.join('/') : image;
}

/**
 * What `make bundle` makes differently each time from the same sources: V8's compile cache of the
 * same program, the size line of BUNDLE-INFO and the SBOM (its creation time, the files'
 * checksums). Left out of the store's key, so a rebuild of unchanged sources reuses the images
 * (whose bundle is a consistent build of the same program).
 */
const UNSTABLE = new Set(['app/compile-cache', 'BUNDLE-INFO', 'sbom.spdx.json']);

async function hashTree(hash: ReturnType<typeof createHash>, dir: string): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true });
  entries.sort((a, b) => a.name.localeCompare(b.name));
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (UNSTABLE.has(path.relative(BUNDLE_DIR, p))) continue;
    hash.update(`${path.relative(BUNDLE_DIR, p)}\0`);
    if (e.isDirectory()) await hashTree(hash, p);
    else if (e.isFile()) hash.update(await readFile(p));
  }
}

async function storeKey(pause: string, busybox: string): Promise<string> {
  const hash = createHash('sha256');
  hash.update(`recipe ${RECIPE}\0${await initImageName()}\0`);
  hash.update(await readFile(path.join(repoRoot, 'Dockerfile.init')));
  hash.update(await readFile(pause));
  hash.update(await readFile(busybox));
  hash.update(await readFile(PRINTENV_SOURCE));
  await hashTree(hash, BUNDLE_DIR);
  return hash.digest('hex').slice(0, 16);
}

export interface LocalRegistry {
  /** 127.0.0.1:PORT */
  readonly host: string;
  readonly process: ServerProcess;
  stop(): Promise<void>;
}

/** docker-registry serving `storage` over plain HTTP on 127.0.0.1 (a free port; retried when taken). */
export async function startLocalRegistry(
  dir: string,
  storage: string,
  persistent = false,
): Promise<LocalRegistry> {
  const binary = await componentPath('registry', 'VAULT_INJECT_REGISTRY');
  const config = path.join(dir, 'registry.yml');
  const logPath = path.join(dir, 'registry.log');
  const { proc, port } = await listenWithRetry('registry', async (port) => {
    await writeFile(
      config,
      `version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: ${storage}\n` +
        `  delete:\n    enabled: false\nhttp:\n  addr: 127.0.0.1:${port}\n`,
    );
    const proc = startProcess({
      name: 'registry',
      command: binary,
      args: ['serve', config],
      logPath,
      persistent,
    });
    await waitUntil(
      'registry',
      async () => (await fetch(`http://127.0.0.1:${port}/v2/`)).status === 200,
      { process: proc, timeoutMs: 15_000 },
    );
    return proc;
  });
  return { host: `127.0.0.1:${port}`, process: proc, stop: () => proc.stop() };
}

/** A Dockerfile.init's final stage (from its last FROM). */
function finalStage(dockerfile: string): string {
  const lines = dockerfile.split('\n');
  const last = lines
    .map((l, i) => (/^FROM\s/i.test(l) ? i : -1))
    .filter((i) => i >= 0)
    .pop();
  return lines.slice(last ?? 0).join('\n');
}

async function buildAll(
  buildDir: string,
  registryHost: string,
  busybox: string,
  pause: string,
): Promise<void> {
  const buildah = await componentPath('buildah', 'VAULT_INJECT_BUILDAH');
  const storage = [
    '--root',
    path.join(buildDir, 'root'),
    '--runroot',
    path.join(buildDir, 'run'),
    '--storage-driver',
    'vfs',
  ];
  const b = (args: readonly string[], cwd = buildDir): Promise<unknown> =>
    run(buildah, [...storage, ...args], { cwd, maxBuffer: 16 * 1024 * 1024 });
  const push = async (tag: string, image: string): Promise<void> => {
    await b([
      'push',
      '--tls-verify=false',
      tag,
      `docker://${registryHost}/${repositoryPath(image)}`,
    ]);
  };
  const scratch = async (
    name: string,
    files: Record<string, string>,
    extra: string[],
  ): Promise<string> => {
    const ctx = path.join(buildDir, name);
    await mkdir(ctx, { recursive: true });
    for (const [dest, src] of Object.entries(files)) {
      await mkdir(path.join(ctx, 'rootfs', path.dirname(dest)), { recursive: true });
      if (src.startsWith('->')) await symlink(src.slice(2), path.join(ctx, 'rootfs', dest));
      else await cp(src, path.join(ctx, 'rootfs', dest));
    }
    await writeFile(
      path.join(ctx, 'Dockerfile'),
      ['FROM scratch', 'COPY rootfs/ /', ...extra, ''].join('\n'),
    );
    await b([
      'bud',
      '--isolation',
      'chroot',
      '-f',
      path.join(ctx, 'Dockerfile'),
      '-t',
      `localhost/${name}`,
      ctx,
    ]);
    return `localhost/${name}`;
  };

  // The init image: Dockerfile.init's final stage with the bundle as the `bundle` stage's output.
  const ctx = path.join(buildDir, 'bundle-stage');
  await mkdir(path.join(ctx, 'out'), { recursive: true });
  await cp(BUNDLE_DIR, path.join(ctx, 'out/vault-inject'), {
    recursive: true,
    verbatimSymlinks: true,
  });
  await writeFile(
    path.join(buildDir, 'Dockerfile.init'),
    finalStage(await readFile(path.join(repoRoot, 'Dockerfile.init'), 'utf8')),
  );
  await b([
    'bud',
    '--isolation',
    'chroot',
    '--build-context',
    `bundle=${ctx}`,
    '-f',
    path.join(buildDir, 'Dockerfile.init'),
    '-t',
    'localhost/init',
    ctx,
  ]);
  await push('localhost/init', await initImageName());

  await push(await scratch('pause', { pause: pause }, ['ENTRYPOINT ["/pause"]']), PAUSE_IMAGE);
  const applets: Record<string, string> = { 'bin/busybox': busybox };
  for (const a of BUSYBOX_APPLETS) applets[`bin/${a}`] = '->busybox';
  await push(
    await scratch('busybox', applets, ['ENV PATH=/bin', 'CMD ["/bin/sh"]']),
    BUSYBOX_IMAGE,
  );
  const printenv = path.join(buildDir, 'printenv.bin');
  await run('musl-gcc', ['-static', '-Os', '-s', '-o', printenv, PRINTENV_SOURCE]);
  await push(
    await scratch('printenv', { printenv }, ['ENTRYPOINT ["/printenv"]', 'CMD ["APP_PASSWORD"]']),
    PRINTENV_IMAGE,
  );
}

/**
 * The registry storage holding every image of the node, built when missing (about 20 s: buildah
 * over the 100 MB bundle), else found in the cache.
 */
export async function ensureImageStore(): Promise<string> {
  const pause = await componentPath('pause', 'VAULT_INJECT_PAUSE');
  const busybox = await componentPath('busybox', 'VAULT_INJECT_BUSYBOX');
  if (!existsSync(BUNDLE_DIR)) throw new Error(`${BUNDLE_DIR} is missing: run make bundle`);
  const cache =
    process.env['VAULT_INJECT_CACHE'] ??
    path.join(process.env['HOME'] ?? '/root', '.cache/vault-inject');
  const base = path.join(cache, 'node-images');
  const key = await storeKey(pause, busybox);
  const dest = path.join(base, key);
  if (existsSync(dest)) return dest;
  await mkdir(base, { recursive: true });
  const work = await mkdtemp(path.join(base, `.stage-${key}-`));
  try {
    const storage = path.join(work, 'storage');
    const registry = await startLocalRegistry(work, storage);
    try {
      await buildAll(work, registry.host, busybox, pause);
    } finally {
      await registry.stop();
    }
    // Only the storage is kept: one rename makes it appear complete.
    await rename(storage, dest).catch(async (err: NodeJS.ErrnoException) => {
      if (!existsSync(dest)) throw err; // another run finished first: keep theirs
    });
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  await pruneStores(base, key);
  return dest;
}

/** Keeps the three newest stores (other worktrees may use an older bundle), removes the rest. */
async function pruneStores(base: string, keep: string): Promise<void> {
  const { stat } = await import('node:fs/promises');
  const stores = (await readdir(base)).filter((e) => !e.startsWith('.') && e !== keep);
  const dated = await Promise.all(
    stores.map(async (e) => ({ e, t: (await stat(path.join(base, e))).mtimeMs })),
  );
  dated.sort((a, b) => b.t - a.t);
  for (const { e } of dated.slice(2))
    await rm(path.join(base, e), { recursive: true, force: true });
}

/** A node's own copy of the store (hard links: instant, no extra space). */
export async function copyImageStore(store: string, dest: string): Promise<void> {
  await run('cp', ['-al', store, dest]);
}
