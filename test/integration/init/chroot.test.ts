// The BUILT bundle in roots with no libc: Debian's static busybox alone, and an empty root with one
// static program. As UID 65534, the bundle read-only at /vault-inject, against OpenBao on loopback.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { busyboxRoot, runInRoot, scratchRoot, type Root } from '../../env/chroot.ts';
import { startOpenBao, type OpenBao } from '../../env/openbao.ts';
import { builtBundle, parseOutput } from './bundle.ts';

const CANARY = `canary-${process.pid}-c4r00t`;
const isRoot = process.getuid?.() === 0;
const hasTools =
  spawnSync('sh', ['-c', 'command -v unshare && command -v chroot && command -v musl-gcc'])
    .status === 0;

describe(
  'the bundle in scratch-like roots',
  { skip: !isRoot || !hasTools ? 'needs root, unshare, chroot and musl-gcc' : false },
  () => {
    let bao: OpenBao;
    let bundle: string;
    const roots: Root[] = [];

    before(async () => {
      bundle = builtBundle();
      bao = await startOpenBao();
      await bao.api('POST', 'secret/data/app', { data: { user: 'alice', password: CANARY } });
    });
    after(async () => {
      for (const r of roots) r.remove();
      await bao?.stop();
    });

    /** A JWT-less setup: token auth with a token file inside the root (readable by 65534). */
    function tokenFile(root: Root): string {
      mkdirSync(join(root.dir, 'etc'), { recursive: true });
      writeFileSync(join(root.dir, 'etc', 'vault-token'), bao.rootToken);
      chmodSync(join(root.dir, 'etc', 'vault-token'), 0o644);
      return '/etc/vault-token';
    }

    const env = (file: string): Record<string, string> => ({
      PATH: '/bin',
      VAULT_ADDR: bao.addr,
      VAULT_AUTH_METHOD: 'token',
      VAULT_TOKEN_FILE: file,
      USER_NAME: 'vault:secret/app#user',
      PASSWORD: 'vault:secret/data/app#password',
      INLINE: 'u=${vault:secret/app#user};',
    });

    const cases: [string, () => Root, string[]][] = [
      [
        'busybox-static root',
        () => busyboxRoot(),
        ['/vault-inject/bin/vault-inject-env', 'sh', '-c', 'echo "PID=$$"; env'],
      ],
      [
        'empty root with one static program',
        () => scratchRoot(new URL('./app.c', import.meta.url).pathname),
        ['/vault-inject/bin/vault-inject-env', '/app'],
      ],
    ];
    for (const [name, make, argv] of cases) {
      it(`${name}: resolves, keeps the PID, drops VAULT_*`, async () => {
        const root = make();
        roots.push(root);
        const r = await runInRoot(root, bundle, argv, env(tokenFile(root)));
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

    it('copy mode: copies the bundle into a volume as the copy init container does', async () => {
      const root = busyboxRoot();
      roots.push(root);
      mkdirSync(join(root.dir, 'volume'));
      chmodSync(join(root.dir, 'volume'), 0o777);
      const r = await runInRoot(
        root,
        bundle,
        ['/vault-inject/bin/vault-inject-env', '--copy-bundle', '/volume'],
        { PATH: '/bin' },
      );
      assert.equal(r.code, 0, r.stderr);
      const again = await runInRoot(
        root,
        bundle,
        ['/volume/bin/vault-inject-env', 'sh', '-c', 'echo "PID=$$"; env'],
        { ...env(tokenFile(root)) },
      );
      assert.equal(again.code, 0, again.stderr);
      assert.equal(parseOutput(again.stdout).env['USER_NAME'], 'alice');
    });

    it('exits 126 for a command in a directory this UID cannot search, as a shell does', async () => {
      const root = busyboxRoot();
      roots.push(root);
      mkdirSync(join(root.dir, 'private'), { mode: 0o700 });
      copyFileSync(join(root.dir, 'bin', 'busybox'), join(root.dir, 'private', 'true'));
      const r = await runInRoot(
        root,
        bundle,
        ['/vault-inject/bin/vault-inject-env', '/private/true'],
        env(tokenFile(root)),
      );
      const shell = await runInRoot(root, bundle, ['/bin/sh', '-c', '/private/true'], {
        PATH: '/bin',
      });
      assert.equal(shell.code, 126, shell.stderr);
      assert.equal(r.code, 126, r.stderr);
      assert.equal(
        r.stderr.trim(),
        'vault-inject-env: command "/private/true" is not executable: a directory on its path cannot be searched (EACCES)',
      );
    });

    it('exits 127 for a command the image does not have', async () => {
      const root = busyboxRoot();
      roots.push(root);
      const r = await runInRoot(
        root,
        bundle,
        ['/vault-inject/bin/vault-inject-env', 'bash'],
        env(tokenFile(root)),
      );
      assert.equal(r.code, 127);
      assert.equal(r.stderr.trim(), 'vault-inject-env: command "bash" not found in PATH');
    });
  },
);
