// The init bundle's supply chain: the SPDX SBOM scripts/bundle.sh writes lists every file it ships
// with its checksums and a licence, traces the glibc loader and libraries to their Debian
// packages and ships their copyright files; the Node.js runtime is the pinned one
// (scripts/verify-node.sh against scripts/node-checksums.txt), and the pin is tied to the npm
// tarball the registry publishes (its integrity, from npm's cache: no network).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { filesUnder } from '../../../scripts/sbom.ts';
import { BUNDLE, ensureBundle, repoRoot } from './helpers.ts';

const run = promisify(execFile);

interface Spdx {
  spdxVersion: string;
  packages: {
    SPDXID: string;
    name: string;
    versionInfo: string;
    licenseDeclared: string;
    externalRefs?: { referenceType: string; referenceLocator: string }[];
  }[];
  files: {
    SPDXID: string;
    fileName: string;
    licenseConcluded: string;
    checksums: { algorithm: string; checksumValue: string }[];
  }[];
  relationships: { spdxElementId: string; relationshipType: string; relatedSpdxElement: string }[];
}

async function pins(): Promise<Record<string, string>> {
  const text = await readFile(path.join(repoRoot, 'scripts/node-checksums.txt'), 'utf8');
  return Object.fromEntries(
    text
      .split('\n')
      .filter((l) => l.trim() !== '' && !l.startsWith('#'))
      .map((l) => l.split(/\s+/) as [string, string]),
  );
}

async function nodeDir(): Promise<string> {
  const { stdout } = await run(path.join(repoRoot, 'scripts/ensure-node.sh'));
  return path.dirname(stdout.trim());
}

describe('the init bundle SBOM and licence files', () => {
  let sbom: Spdx;
  before(async () => {
    await ensureBundle();
    sbom = JSON.parse(await readFile(path.join(BUNDLE, 'sbom.spdx.json'), 'utf8')) as Spdx;
  });

  it('lists every file the bundle ships, with its sha256 and a licence', async () => {
    assert.equal(sbom.spdxVersion, 'SPDX-2.3');
    const shipped = filesUnder(BUNDLE).filter((f) => f !== 'sbom.spdx.json');
    assert.deepEqual(
      sbom.files.map((f) => f.fileName.slice(2)).sort(),
      shipped,
      'the SBOM lists exactly the files of the bundle',
    );
    for (const f of sbom.files) {
      assert.match(f.licenseConcluded, /^[A-Za-z0-9.+() -]+$/, f.fileName);
      assert.doesNotMatch(f.licenseConcluded, /NOASSERTION|NONE/, f.fileName);
      const sha256 = createHash('sha256')
        .update(await readFile(path.join(BUNDLE, f.fileName)))
        .digest('hex');
      assert.equal(
        f.checksums.find((c) => c.algorithm === 'SHA256')?.checksumValue,
        sha256,
        f.fileName,
      );
    }
    for (const p of sbom.packages) assert.notEqual(p.licenseDeclared, 'NOASSERTION', p.name);
  });

  it('traces the loader and every library to its Debian package, with its copyright file', async () => {
    const libs = filesUnder(BUNDLE).filter((f) => f.startsWith('runtime/lib/'));
    assert.ok(libs.includes('runtime/lib/ld-linux-x86-64.so.2'));
    assert.ok(libs.includes('runtime/lib/libc.so.6'));
    const byId = new Map(sbom.packages.map((p) => [p.SPDXID, p]));
    const fileIds = new Map(sbom.files.map((f) => [f.fileName.slice(2), f.SPDXID]));
    const debs = new Set<string>();
    for (const lib of libs) {
      const from = sbom.relationships
        .filter(
          (r) => r.spdxElementId === fileIds.get(lib) && r.relationshipType === 'GENERATED_FROM',
        )
        .map((r) => byId.get(r.relatedSpdxElement));
      const purl = from[0]?.externalRefs?.find((e) => e.referenceType === 'purl')?.referenceLocator;
      assert.match(purl ?? '', /^pkg:deb\/debian\/[\w.+-]+@/, `${lib} comes from a Debian package`);
      debs.add(from[0]?.name ?? '');
    }
    assert.deepEqual([...debs].sort(), ['libc6', 'libgcc-s1', 'libstdc++6']);
    for (const pkg of [...debs, 'musl']) {
      const copyright = await readFile(
        path.join(BUNDLE, 'licenses/debian', pkg, 'copyright'),
        'utf8',
      );
      assert.equal(copyright, await readFile(`/usr/share/doc/${pkg}/copyright`, 'utf8'), pkg);
    }
    assert.match(
      await readFile(path.join(BUNDLE, 'licenses/debian/libc6/copyright'), 'utf8'),
      /GNU Lesser General\s+Public/,
    );
    // The full texts the copyright files refer to.
    for (const name of ['LGPL-2.1', 'GPL-3']) {
      assert.equal(
        await readFile(path.join(BUNDLE, 'licenses/debian/common-licenses', name), 'utf8'),
        await readFile(`/usr/share/common-licenses/${name}`, 'utf8'),
      );
    }
  });

  it("carries our licence, Node.js's and each bundled npm package's", async () => {
    assert.equal(
      await readFile(path.join(BUNDLE, 'licenses/vault-inject/LICENSE'), 'utf8'),
      await readFile(path.join(repoRoot, 'LICENSE'), 'utf8'),
    );
    assert.match(
      await readFile(path.join(repoRoot, 'LICENSE'), 'utf8'),
      /Apache License\s+Version 2\.0/,
    );
    assert.equal(
      await readFile(path.join(BUNDLE, 'licenses/node/LICENSE'), 'utf8'),
      await readFile(path.join(await nodeDir(), 'LICENSE'), 'utf8'),
    );
    const node = sbom.packages.find((p) => p.name === 'node');
    assert.equal(node?.versionInfo, (await pins())['version']);
    for (const p of sbom.packages.filter((x) =>
      x.externalRefs?.some((e) => e.referenceLocator.startsWith('pkg:npm/') && x.name !== 'node'),
    )) {
      const dir = path.join(BUNDLE, 'licenses/npm', `${p.name}@${p.versionInfo}`);
      assert.ok(existsSync(dir), `licence files of ${p.name}`);
    }
    assert.ok(sbom.packages.some((p) => p.name === 'node-vault'));
  });
});

describe('the pinned Node.js runtime (scripts/verify-node.sh)', () => {
  const dirs: string[] = [];
  after(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });
  const verify = (...args: string[]) =>
    run(path.join(repoRoot, 'scripts/verify-node.sh'), args, { cwd: repoRoot });
  const copyOfNode = async (): Promise<string> => {
    const dir = await mkdtemp(path.join(tmpdir(), 'vault-inject-node-'));
    dirs.push(dir);
    await cp(await nodeDir(), dir, { recursive: true });
    return dir;
  };

  it('accepts the runtime ensure-node.sh provides', async () => {
    const { stderr } = await verify(await nodeDir());
    assert.match(stderr, /as pinned/);
  });

  it('refuses a runtime whose bin/node differs by one byte, and another version', async () => {
    const changed = await copyOfNode();
    const node = path.join(changed, 'bin/node');
    const bytes = await readFile(node);
    bytes[bytes.length - 1] = (bytes[bytes.length - 1] ?? 0) ^ 1;
    await writeFile(node, bytes);
    await assert.rejects(verify(changed), (e: { stderr?: string }) =>
      /bin\/node: sha256 [0-9a-f]{64}, pinned/.test(e.stderr ?? ''),
    );
    const other = await copyOfNode();
    const pkg = path.join(other, 'package.json');
    await writeFile(
      pkg,
      (await readFile(pkg, 'utf8')).replace(/"version": "[^"]+"/, '"version": "24.0.0"'),
    );
    await assert.rejects(verify(other), (e: { stderr?: string }) =>
      /is Node\.js 24\.0\.0; .* pins/.test(e.stderr ?? ''),
    );
  });

  it('refuses a tarball that is not the release one (SHASUMS256)', async () => {
    const dir = await copyOfNode();
    const version = (await pins())['version'];
    const tarball = path.join(dir, `node-v${version}-linux-x64.tar.xz`);
    // Its checksum is checked first: any small tarball shows the refusal.
    await run('tar', ['-cJf', tarball, '-C', dir, 'package.json']);
    await assert.rejects(verify(await nodeDir(), tarball), (e: { stderr?: string }) =>
      /not the release's tarball/.test(e.stderr ?? ''),
    );
  });

  for (const [arch, suffix] of [
    ['x64', ''],
    ['arm64', '-arm64'],
  ] as const) {
    it(`the ${arch} pin is the bin/node of the npm tarball with the registry's integrity (npm's cache)`, async () => {
      const p = await pins();
      const name = `node-linux-${arch}`;
      const dir = await mkdtemp(path.join(tmpdir(), 'vault-inject-npm-'));
      dirs.push(dir);
      // Offline: ensure-node.sh fetched it with `npm pack`, which keeps it in npm's cache.
      await run(path.join(repoRoot, 'scripts/ensure-node.sh'), [arch], { cwd: repoRoot });
      await run(
        'npm',
        ['pack', '--offline', '--silent', `${name}@${p['version']}`, '--pack-destination', dir],
        {
          cwd: dir,
        },
      ).catch((err: Error) => {
        throw new Error(`${name}@${p['version']} is not in npm's cache: ${err.message}`);
      });
      const tgz = path.join(dir, `${name}-${p['version']}.tgz`);
      const integrity = `sha512-${createHash('sha512')
        .update(await readFile(tgz))
        .digest('base64')}`;
      assert.equal(integrity, p[`npm-integrity${suffix}`]);
      await run('tar', ['-xzf', tgz, '-C', dir, 'package/bin/node']);
      const sha = createHash('sha256')
        .update(await readFile(path.join(dir, 'package/bin/node')))
        .digest('hex');
      assert.equal(sha, p[`node-sha256${suffix}`]);
    });
  }
});
