/**
 * Scratch-like roots for running the built bundle the way an app image would: a root holding only
 * Debian's static busybox, or an empty root with one static program. The bundle is bind-mounted
 * read-only at /vault-inject inside a private mount namespace (`unshare -m`), then `chroot` runs
 * the command as UID/GID 65534. Needs root. Loopback networking still works in a chroot.
 */
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Root {
  readonly dir: string;
  remove(): void;
}

/** A root with /bin/busybox (static) and /bin/sh → busybox; nothing else. */
export function busyboxRoot(busybox = '/bin/busybox'): Root {
  const dir = mkdtempSync(join(tmpdir(), 'vault-inject-root-busybox-'));
  mkdirSync(join(dir, 'bin'));
  mkdirSync(join(dir, 'vault-inject'));
  copyFileSync(busybox, join(dir, 'bin', 'busybox'));
  chmodSync(join(dir, 'bin', 'busybox'), 0o755);
  for (const applet of ['sh', 'env', 'cat', 'true'])
    symlinkSync('busybox', join(dir, 'bin', applet));
  chmodSync(dir, 0o755);
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** An empty root with one static program at /app (compiled from C with musl-gcc). */
export function scratchRoot(source: string): Root {
  const dir = mkdtempSync(join(tmpdir(), 'vault-inject-root-scratch-'));
  mkdirSync(join(dir, 'vault-inject'));
  const r = spawnSync('musl-gcc', ['-static', '-Os', '-o', join(dir, 'app'), source], {
    encoding: 'utf8',
  });
  if (r.status !== 0)
    throw new Error(
      `musl-gcc failed (run scripts/bundle.sh once to install musl-tools): ${r.stderr}`,
    );
  chmodSync(dir, 0o755);
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface ChrootResult {
  readonly pid: number;
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs argv in `root` as 65534 with `bundle` read-only at /vault-inject and exactly `env`. */
export function runInRoot(
  root: Root,
  bundle: string,
  argv: readonly string[],
  env: Readonly<Record<string, string>>,
  timeoutMs = 30_000,
): Promise<ChrootResult> {
  const mountpoint = join(root.dir, 'vault-inject');
  const [unshare, mount, chroot] = ['unshare', 'mount', 'chroot'].map(hostCommand);
  const script =
    '"$1" --bind "$3" "$4" && "$1" -o remount,bind,ro "$4" && c="$2" && shift 4 && exec "$c" --userspec=65534:65534 "$@"';
  // unshare, sh and chroot each exec the next: the PID we spawn is the PID the app ends up with.
  const child = spawn(
    unshare ?? 'unshare',
    [
      '-m',
      '--propagation',
      'private',
      '/bin/sh',
      '-c',
      script,
      'sh',
      mount ?? 'mount',
      chroot ?? 'chroot',
      bundle,
      mountpoint,
      root.dir,
      ...argv,
    ],
    { env: { ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  return new Promise((resolve) => {
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ pid: child.pid ?? -1, code, stdout, stderr });
    });
  });
}

/** Host tools by absolute path: the environment given to the chroot is exactly the app's. */
function hostCommand(name: string): string {
  const r = spawnSync('sh', ['-c', `command -v ${name}`], {
    encoding: 'utf8',
    env: { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' },
  });
  const path = r.stdout.trim();
  if (r.status !== 0 || path === '') throw new Error(`${name} is not installed`);
  return path;
}
