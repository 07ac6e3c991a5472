/**
 * What the arm64 bundle's tests need on an x86-64 machine: the bundle (scripts/bundle.sh --arch
 * arm64), Debian's arm64 busybox-static, a static arm64 program, and a binfmt_misc entry that runs
 * arm64 ELF files under qemu-user. The entry is registered with the `F` flag (qemu is opened at
 * registration, so it also runs programs inside a chroot that has no qemu) under a name of this
 * process's own; `remove()` deletes that entry only, and unmounts binfmt_misc only when it mounted
 * it and nothing else is registered there.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Root } from '../../env/chroot.ts';
import { busyboxRoot } from '../../env/chroot.ts';

const BINFMT = '/proc/sys/fs/binfmt_misc';
const QEMU = '/usr/bin/qemu-aarch64-static';

// The ELF header of an AArch64 executable or shared object (e_machine 0xb7), as qemu's
// qemu-binfmt-conf.sh registers it; the mask lets e_type be ET_EXEC or ET_DYN.
const MAGIC =
  '\\x7fELF\\x02\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\xb7\\x00';
const MASK =
  '\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff\\xff';

export interface Binfmt {
  readonly name: string;
  remove(): void;
}

/** Registers arm64 emulation for this test run; throws (having undone everything) when it cannot. */
export function registerArm64Binfmt(): Binfmt {
  if (!existsSync(QEMU))
    throw new Error(`${QEMU} is missing (scripts/bundle.sh --arch arm64 installs it)`);
  let mounted = false;
  if (!existsSync(join(BINFMT, 'register'))) {
    execFileSync('mount', ['-t', 'binfmt_misc', 'binfmt_misc', BINFMT]);
    mounted = true;
  }
  const name = `vault-inject-test-aarch64-${process.pid}`;
  const entry = join(BINFMT, name);
  const unmount = (): void => {
    const others = readdirSync(BINFMT).filter((f) => f !== 'register' && f !== 'status');
    if (mounted && others.length === 0) spawnSync('umount', [BINFMT]);
    mounted = false;
  };
  const remove = (): void => {
    if (existsSync(entry)) writeFileSync(entry, '-1');
    unmount();
  };
  try {
    writeFileSync(join(BINFMT, 'register'), `:${name}:M::${MAGIC}:${MASK}:${QEMU}:F`);
  } catch (err) {
    remove();
    throw err;
  }
  return { name, remove };
}

/**
 * The arm64 bundle: VAULT_INJECT_BUNDLE_ARM64, else built now (scripts/bundle.sh --arch arm64)
 * into `out`. Each test file builds its own, so that one never reads a bundle another replaces.
 */
export function arm64Bundle(out = 'dist/bundle-arm64/vault-inject'): string {
  const given = process.env['VAULT_INJECT_BUNDLE_ARM64'];
  if (given) return resolve(given);
  const dir = resolve(out);
  const r = spawnSync('scripts/bundle.sh', ['--arch', 'arm64', dir], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error('scripts/bundle.sh --arch arm64 failed');
  return dir;
}

/** e_machine of an ELF file, as readelf names it ("AArch64", "Advanced Micro Devices X86-64"). */
export function elfMachine(file: string): string {
  const out = execFileSync('readelf', ['-h', file], { encoding: 'utf8' });
  return /Machine:\s*(.+)/.exec(out)?.[1]?.trim() ?? '';
}

/** A root holding only Debian's arm64 busybox-static (and /bin/sh etc. linked to it). */
export function arm64BusyboxRoot(): Root {
  const line = execFileSync('scripts/debian-foreign.sh', ['arm64', 'busybox-static'], {
    encoding: 'utf8',
  });
  const dir = line.trim().split(' ')[2] ?? '';
  return busyboxRoot(join(dir, 'root', 'bin', 'busybox'));
}

/** An empty root with one static arm64 program at /app (cross-compiled from C). */
export function arm64ScratchRoot(source: string): Root {
  const { root, dir } = emptyRoot();
  execFileSync('aarch64-linux-gnu-gcc', ['-static', '-Os', '-o', join(dir, 'app'), source]);
  return root;
}

function emptyRoot(): { root: Root; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'vault-inject-root-arm64-'));
  mkdirSync(join(dir, 'vault-inject'));
  chmodSync(dir, 0o755);
  return { dir, root: { dir, remove: () => rmSync(dir, { recursive: true, force: true }) } };
}
