// The final stage of Dockerfile.init built for real, offline, by Debian's buildah (vfs storage in a
// temporary directory, no daemon, no registry: the stage is FROM scratch), from the bundle
// scripts/bundle.sh makes, standing in for the `bundle` build stage (whose base image needs a
// registry; dockerfiles.test.ts replays that stage on the host). Then the image is checked as a
// kubelet would use it: its config (numeric user, exec entrypoint and the copy command), a root
// filesystem holding the bundle and nothing else (its licence files and SBOM included), and the
// copy step run from that root filesystem as uid 65532 with no shell and no libc in it.
//
// Needs buildah (scripts/components/buildah.sh, in the default set of `make test`); without it the
// test fails, saying so (componentPath).
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { componentPath } from '../../env/kube.ts';
import { arm64Bundle } from '../init/arm64.ts';
import { BUNDLE, ensureBundle, listTree, repoRoot } from './helpers.ts';

const run = promisify(execFile);
const TAG = 'localhost/vault-inject-init:test';

/** The last stage of a Dockerfile, verbatim. */
function finalStage(text: string): string {
  const lines = text.split('\n');
  const from = lines.findLastIndex((l) => /^FROM\s/i.test(l));
  return lines.slice(from).join('\n');
}

describe('Dockerfile.init, final stage, built by buildah', () => {
  let dir: string;
  let storage: string[];
  let container = '';
  let rootfs = '';
  let buildah = '';
  const reference = BUNDLE;
  const b = (args: readonly string[]): Promise<{ stdout: string }> =>
    run(buildah, [...storage, ...args], { cwd: dir, maxBuffer: 16 * 1024 * 1024 });

  before(async () => {
    buildah = await componentPath('buildah', 'VAULT_INJECT_BUILDAH');
    dir = await mkdtemp(path.join(tmpdir(), 'vault-inject-buildah-'));
    storage = [
      '--root',
      path.join(dir, 'root'),
      '--runroot',
      path.join(dir, 'run'),
      '--storage-driver',
      'vfs',
    ];
    await ensureBundle();
    const stage = finalStage(await readFile(path.join(repoRoot, 'Dockerfile.init'), 'utf8'));
    // The `bundle` stage's output, where its RUN line writes it (/out/vault-inject).
    const bundleStage = /^RUN scripts\/bundle\.sh (?:--arch \S+ )?(\S+)/m.exec(
      await readFile(path.join(repoRoot, 'Dockerfile.init'), 'utf8'),
    )?.[1];
    assert.equal(bundleStage, '/out/vault-inject');
    const context = path.join(dir, 'bundle-stage');
    await mkdir(path.join(context, 'out'), { recursive: true });
    await cp(reference, path.join(context, 'out/vault-inject'), {
      recursive: true,
      verbatimSymlinks: true,
    });
    await writeFile(path.join(dir, 'Dockerfile'), stage);
    await b([
      'bud',
      '--isolation',
      'chroot',
      '--build-context',
      `bundle=${context}`,
      '-f',
      path.join(dir, 'Dockerfile'),
      '-t',
      TAG,
      context,
    ]);
    container = (await b(['from', TAG])).stdout.trim();
    rootfs = (await b(['mount', container])).stdout.trim();
  });

  it('linux/amd64 and linux/arm64 in one OCI index (buildah manifest)', async () => {
    const multi = 'localhost/vault-inject-init:multi';
    const dockerfile = path.join(dir, 'Dockerfile');
    const arm64 = path.join(dir, 'bundle-stage-arm64');
    arm64Bundle(path.join(arm64, 'out/vault-inject'));
    await b(['manifest', 'create', multi]);
    for (const [arch, context] of [
      ['amd64', path.join(dir, 'bundle-stage')],
      ['arm64', arm64],
    ] as const) {
      await b([
        'bud',
        '--isolation',
        'chroot',
        '--platform',
        `linux/${arch}`,
        '--build-context',
        `bundle=${context}`,
        '-f',
        dockerfile,
        '--manifest',
        multi,
        context,
      ]);
    }
    // Pushed as a registry would receive it, into an OCI layout: its index.json names the index.
    const layout = path.join(dir, 'oci-layout');
    await b(['manifest', 'push', '--all', '--format', 'oci', multi, `oci:${layout}`]);
    interface Index {
      mediaType: string;
      manifests: { digest: string; platform: { os: string; architecture: string } }[];
    }
    const blob = async (digest: string): Promise<Index> =>
      JSON.parse(await readFile(path.join(layout, 'blobs', ...digest.split(':')), 'utf8')) as Index;
    const top = JSON.parse(await readFile(path.join(layout, 'index.json'), 'utf8')) as Index;
    assert.equal(top.manifests.length, 1);
    const index = await blob(top.manifests[0]?.digest ?? '');
    assert.equal(index.mediaType, 'application/vnd.oci.image.index.v1+json');
    assert.deepEqual(
      index.manifests.map((m) => `${m.platform.os}/${m.platform.architecture}`).sort(),
      ['linux/amd64', 'linux/arm64'],
    );
    // Each platform's image in that layout: its config says its architecture, and its one layer
    // holds the launcher of that architecture (ELF e_machine: 0x3e x86-64, 0xb7 AArch64).
    const machines = { amd64: 0x3e, arm64: 0xb7 } as Record<string, number>;
    for (const m of index.manifests) {
      const manifest = JSON.parse(
        await readFile(path.join(layout, 'blobs', ...m.digest.split(':')), 'utf8'),
      ) as { config: { digest: string }; layers: { digest: string }[] };
      const config = JSON.parse(
        await readFile(path.join(layout, 'blobs', ...manifest.config.digest.split(':')), 'utf8'),
      ) as { os: string; architecture: string };
      assert.deepEqual([config.os, config.architecture], [m.platform.os, m.platform.architecture]);
      assert.equal(manifest.layers.length, 1);
      const layer = path.join(layout, 'blobs', ...(manifest.layers[0]?.digest ?? '').split(':'));
      const launcher = (
        await run('tar', ['-xzOf', layer, 'vault-inject/bin/vault-inject-env'], {
          encoding: 'buffer',
          maxBuffer: 16 * 1024 * 1024,
        })
      ).stdout;
      assert.equal(launcher.readUInt16LE(18), machines[m.platform.architecture]);
    }
  });

  after(async () => {
    if (container) {
      await b(['umount', container]).catch(() => undefined);
      await b(['rm', container]).catch(() => undefined);
    }
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('the image config: numeric non-root user, exec entrypoint, the copy command', async () => {
    const image = JSON.parse((await b(['inspect', '--type', 'image', TAG])).stdout) as {
      OCIv1: { config: { User?: string; Entrypoint?: string[]; Cmd?: string[] } };
    };
    const config = image.OCIv1.config;
    assert.equal(config.User, '65532:65532');
    assert.deepEqual(config.Entrypoint, ['/vault-inject/bin/vault-inject-env']);
    assert.deepEqual(config.Cmd, ['--copy-bundle', '/vault-inject-volume']);
  });

  it('the root filesystem holds the bundle scripts/bundle.sh makes, and nothing else', async () => {
    assert.deepEqual(await readdir(rootfs), ['vault-inject']);
    assert.deepEqual(await listTree(path.join(rootfs, 'vault-inject')), await listTree(reference));
    assert.equal(existsSync(path.join(rootfs, 'bin/sh')), false, 'no shell');
  });

  it('the image carries the licence files and the SBOM, the glibc pieces included', async () => {
    const root = path.join(rootfs, 'vault-inject');
    for (const file of [
      'licenses/vault-inject/LICENSE',
      'licenses/node/LICENSE',
      'licenses/debian/libc6/copyright',
      'licenses/debian/libstdc++6/copyright',
      'licenses/debian/libgcc-s1/copyright',
      'licenses/debian/musl/copyright',
      'licenses/debian/common-licenses/LGPL-2.1',
    ]) {
      assert.ok(existsSync(path.join(root, file)), `${file} is in the image`);
    }
    const sbom = JSON.parse(await readFile(path.join(root, 'sbom.spdx.json'), 'utf8')) as {
      spdxVersion: string;
      files: { fileName: string }[];
    };
    assert.equal(sbom.spdxVersion, 'SPDX-2.3');
    assert.ok(sbom.files.some((f) => f.fileName === './runtime/lib/libc.so.6'));
  });

  it('its copy step runs as uid 65532 in that root filesystem, with no shell', async () => {
    const volume = path.join(rootfs, 'vault-inject-volume');
    await mkdir(volume);
    await chmod(volume, 0o777);
    try {
      // What the copy init container runs: the image's entrypoint and command.
      const chroot = spawnSync('sh', ['-c', 'command -v chroot'], { encoding: 'utf8' });
      assert.equal(chroot.status, 0, 'chroot (coreutils) is on PATH');
      const { stderr } = await run(
        chroot.stdout.trim(),
        [
          '--userspec=65532:65532',
          rootfs,
          '/vault-inject/bin/vault-inject-env',
          '--copy-bundle',
          '/vault-inject-volume',
        ],
        { env: {} },
      );
      assert.match(stderr, /copied \d+ files/);
      assert.deepEqual(
        (await listTree(volume)).map((l) => l.split(' ')[0]),
        (await listTree(reference)).map((l) => l.split(' ')[0]),
      );
    } finally {
      await rm(volume, { recursive: true, force: true });
    }
  });
});
