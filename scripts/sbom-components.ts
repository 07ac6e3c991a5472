/**
 * The components scripts/sbom.ts finds in an image's payload: our own program, the npm packages
 * bundled into it, Node.js, the Debian packages of the libraries the init bundle carries (each
 * file checked against the package's md5sums), and the webhook's base image.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, realpathSync } from 'node:fs';
import path from 'node:path';

export const ROOT = path.resolve(import.meta.dirname, '..');
const PROJECT = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
  name: string;
  version: string;
  license: string;
};
const LICENCE_FILE = /^(licen[cs]e|copying|notice)([.-].*)?$/i;

/** A component of the payload: what SPDX calls a package. */
export interface Component {
  readonly id: string;
  readonly name: string;
  readonly version: string;
  readonly license: string;
  readonly purl?: string;
  readonly download?: string;
  readonly comment?: string;
  /** Licence files: name under licenses/ -> source path. */
  readonly licenceFiles: Record<string, string>;
  /** Written under licenses/ instead when the component ships no licence file. */
  readonly licenceNote?: { readonly name: string; readonly text: string };
}

export const spdxId = (s: string): string => s.replace(/[^A-Za-z0-9.-]+/g, '-');

export function digest(file: string, algorithm: string): string {
  return createHash(algorithm).update(readFileSync(file)).digest('hex');
}

function run(command: string, args: readonly string[]): string {
  return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
}

export function projectComponent(name: string): Component {
  return {
    id: `SPDXRef-Package-${spdxId(name)}`,
    name,
    version: PROJECT.version,
    license: PROJECT.license,
    purl: `pkg:github/vault-inject/vault-inject@${PROJECT.version}`,
    download: 'https://github.com/vault-inject/vault-inject',
    licenceFiles: { 'vault-inject/LICENSE': path.join(ROOT, 'LICENSE') },
  };
}

/** The npm package a bundled source path belongs to, or undefined for our own sources. */
export function packageOf(source: string): { name: string; dir: string } | undefined {
  const at = source.lastIndexOf('node_modules/');
  if (at < 0) return undefined;
  const parts = source.slice(at + 'node_modules/'.length).split('/');
  const name = parts[0]?.startsWith('@') ? `${parts[0]}/${parts[1]}` : (parts[0] ?? '');
  return { name, dir: path.join(source.slice(0, at), 'node_modules', name) };
}

function npmLicense(pkg: { license?: unknown; licenses?: unknown }): string {
  const l = pkg.license ?? (Array.isArray(pkg.licenses) ? pkg.licenses[0] : undefined);
  const text = typeof l === 'string' ? l : ((l as { type?: string } | undefined)?.type ?? '');
  if (text === '') throw new Error('an npm package without a licence');
  return text.includes(' ') && !text.startsWith('(') ? `(${text})` : text;
}

/** The npm packages among `sources` (paths relative to `base`), each with its licence files. */
export function npmComponents(sources: Iterable<string>, base: string): Component[] {
  const byName = new Map<string, Component>();
  for (const source of sources) {
    const found = packageOf(path.resolve(base, source));
    if (!found || byName.has(found.name)) continue;
    const pkg = JSON.parse(readFileSync(path.join(found.dir, 'package.json'), 'utf8')) as {
      version: string;
      license?: unknown;
    };
    const key = `npm/${found.name}@${pkg.version}`;
    const files = readdirSync(found.dir).filter((f) => LICENCE_FILE.test(f));
    byName.set(found.name, {
      id: `SPDXRef-Package-npm-${spdxId(found.name)}-${spdxId(pkg.version)}`,
      name: found.name,
      version: pkg.version,
      license: npmLicense(pkg),
      purl: `pkg:npm/${found.name.replace('@', '%40')}@${pkg.version}`,
      download: `https://registry.npmjs.org/${found.name}/-/${found.name.split('/').at(-1)}-${pkg.version}.tgz`,
      ...(files.length === 0
        ? {
            comment: 'The package ships no licence file; its licence is from its package.json.',
            licenceNote: {
              name: `${key}/LICENSE-NOT-SHIPPED.txt`,
              text:
                `${found.name} ${pkg.version} ships no licence file. Its package.json declares ` +
                `the licence ${npmLicense(pkg)} (https://spdx.org/licenses/).\n`,
            },
          }
        : {}),
      licenceFiles: Object.fromEntries(files.map((f) => [`${key}/${f}`, path.join(found.dir, f)])),
    });
  }
  return [...byName.values()].sort((a, b) => a.name.localeCompare(b.name));
}

/** The ways dpkg may have recorded `file`: as given, resolved, and without /usr (usrmerge). */
function spellings(file: string): string[] {
  const real = realpathSync(file);
  return [...new Set([file, real, real.replace(/^\/usr\//, '/')])];
}

/** The Debian package that installed `file`. */
function debianOwner(file: string): string {
  for (const candidate of spellings(file)) {
    try {
      const pkg = run('dpkg', ['-S', candidate]).split(':')[0]?.trim() ?? '';
      if (pkg !== '') return pkg;
    } catch {
      // not this spelling of the path
    }
  }
  throw new Error(`${file}: no Debian package installed it (dpkg -S)`);
}

function debianVersion(pkg: string): string {
  return run('dpkg-query', ['-W', '-f=${Version}', pkg]).trim();
}

/** Checks `file` against the md5sums dpkg recorded for `pkg`: an unmodified Debian file. */
function checkDebianFile(file: string, pkg: string): void {
  const info = readdirSync('/var/lib/dpkg/info').find((f) =>
    new RegExp(`^${pkg.replace(/[+.]/g, '\\$&')}(:[a-z0-9]+)?\\.md5sums$`).test(f),
  );
  const sums = info ? readFileSync(path.join('/var/lib/dpkg/info', info), 'utf8') : '';
  const names = spellings(file).map((f) => `  ${f.slice(1)}`);
  const line = sums.split('\n').find((l) => names.some((n) => l.endsWith(n)));
  const actual = digest(realpathSync(file), 'md5');
  if (line?.split(' ')[0] !== actual) {
    throw new Error(`${file}: not the file Debian's ${pkg} installed (md5sums differ)`);
  }
}

const DEBIAN_LICENSES: Record<string, string> = {
  libc6: 'LGPL-2.1-or-later',
  'libstdc++6': 'GPL-3.0-or-later WITH GCC-exception-3.1',
  'libgcc-s1': 'GPL-3.0-or-later WITH GCC-exception-3.1',
  musl: 'MIT',
  'libc6-dev-arm64-cross': 'LGPL-2.1-or-later',
};

/** The full licence texts a Debian copyright file refers to (/usr/share/common-licenses/NAME). */
function commonLicenses(copyright: string): Record<string, string> {
  const named = readFileSync(copyright, 'utf8').match(/\/usr\/share\/common-licenses\/[\w.+-]+/g);
  return Object.fromEntries(
    [...new Set(named ?? [])]
      .filter((file) => existsSync(file))
      .map((file) => [`debian/common-licenses/${path.basename(file)}`, file]),
  );
}

/**
 * A Debian package as a component: installed on this machine (its version from dpkg, its copyright
 * file under /usr/share/doc), or `unpacked` from another architecture's .deb.
 */
export function debianComponent(
  pkg: string,
  comment: string,
  unpacked?: { readonly version: string; readonly arch: string; readonly copyright: string },
): Component {
  const copyright = unpacked?.copyright ?? `/usr/share/doc/${pkg}/copyright`;
  const license = DEBIAN_LICENSES[pkg];
  if (!license) throw new Error(`no licence known for Debian package ${pkg}: add it`);
  const version = unpacked?.version ?? debianVersion(pkg);
  const arch = unpacked?.arch ?? 'amd64';
  return {
    id: `SPDXRef-Package-deb-${spdxId(pkg)}${arch === 'amd64' ? '' : `-${arch}`}`,
    name: pkg,
    version,
    license,
    purl: `pkg:deb/debian/${pkg}@${encodeURIComponent(version)}?arch=${arch}`,
    comment,
    licenceFiles: { [`debian/${pkg}/copyright`]: copyright, ...commonLicenses(copyright) },
  };
}

/** runtime/lib/NAME -> the Debian package of the host library it was copied from (ldd). */
export function runtimeLibraries(bundle: string): Map<string, Component> {
  const out = new Map<string, Component>();
  const components = new Map<string, Component>();
  for (const line of run('ldd', [path.join(bundle, 'runtime/node')]).split('\n')) {
    const m = /^\s*(\S+)(?: => (\S+))? \(0x/.exec(line);
    if (!m?.[1] || m[1].startsWith('linux-vdso')) continue;
    const host = m[2] ?? m[1];
    const name = m[2] ? m[1] : 'ld-linux-x86-64.so.2';
    const pkg = debianOwner(host);
    checkDebianFile(host, pkg);
    const comment = `Stripped copies of Debian's files, checked against the package's md5sums.`;
    const component = components.get(pkg) ?? debianComponent(pkg, comment);
    components.set(pkg, component);
    out.set(`runtime/lib/${name}`, component);
  }
  return out;
}

/** Checks DIR/root/REL against the md5sums of the unpacked package in DIR. */
function checkUnpackedFile(dir: string, rel: string, pkg: string): void {
  const sums = readFileSync(path.join(dir, 'control', 'md5sums'), 'utf8');
  const line = sums.split('\n').find((l) => l.endsWith(`  ${rel}`));
  if (line?.split(' ')[0] !== digest(path.join(dir, 'root', rel), 'md5')) {
    throw new Error(`${dir}/root/${rel}: not the file Debian's ${pkg} holds (md5sums differ)`);
  }
}

/**
 * The libraries of a bundle for another architecture, from the file scripts/bundle.sh writes:
 *   arch ARCH                                      (the bundle's Debian architecture)
 *   lib runtime/lib/NAME PACKAGE VERSION DIR PATH   (DIR/root/PATH: the file in the unpacked .deb,
 *                                                  DIR/control/md5sums: the package's sums)
 *   launcher-libc PACKAGE COPYRIGHT_PACKAGE        (this machine's cross libc in the launcher)
 *   copyright PACKAGE FILE                         (its copyright file, when not in its own .deb)
 * Undefined when the file is absent or empty (a bundle of this machine's architecture).
 */
export function foreignLibraries(
  file: string,
): { libraries: Map<string, Component>; launcherLibc: Component } | undefined {
  const text = file && existsSync(file) ? readFileSync(file, 'utf8').trim() : '';
  if (text === '') return undefined;
  const rows = text.split('\n').map((l) => l.split(' '));
  const field = (kind: string, key?: string): string[] | undefined =>
    rows.find((r) => r[0] === kind && (key === undefined || r[1] === key))?.slice(1);
  const arch = field('arch')?.[0];
  const [libc, libcCopyright] = field('launcher-libc') ?? [];
  if (!arch || !libc || !libcCopyright) throw new Error(`${file}: names no arch or launcher-libc`);
  const launcherLibc = debianComponent(libc, 'Statically linked into bin/vault-inject-env.', {
    version: debianVersion(libc),
    arch: 'all',
    copyright: `/usr/share/doc/${libcCopyright}/copyright`,
  });
  const libraries = new Map<string, Component>();
  const byPackage = new Map<string, Component>();
  for (const row of rows.filter((r) => r[0] === 'lib')) {
    if (row.length !== 6) throw new Error(`${file}: a lib line not understood: ${row.join(' ')}`);
    const [, name, pkg, version, dir, rel] = row as [
      string,
      string,
      string,
      string,
      string,
      string,
    ];
    checkUnpackedFile(dir, rel, pkg);
    const copyright =
      field('copyright', pkg)?.[1] ?? path.join(dir, 'root/usr/share/doc', pkg, 'copyright');
    const component =
      byPackage.get(pkg) ??
      debianComponent(
        pkg,
        `Stripped copies of the files of Debian's ${pkg}:${arch}, checked against its md5sums.`,
        { version, arch, copyright },
      );
    byPackage.set(pkg, component);
    libraries.set(name, component);
  }
  return { libraries, launcherLibc };
}

export function nodeComponent(nodeDir: string): Component {
  const pkg = JSON.parse(readFileSync(path.join(nodeDir, 'package.json'), 'utf8')) as {
    name: string;
    version: string;
  };
  return {
    id: 'SPDXRef-Package-nodejs',
    name: 'node',
    version: pkg.version,
    license: 'MIT',
    purl: `pkg:npm/${pkg.name}@${pkg.version}`,
    download: `https://registry.npmjs.org/${pkg.name}/-/${pkg.name}-${pkg.version}.tgz`,
    comment:
      `Node.js, from the npm package ${pkg.name} (bin/node stripped; its sha256 checked by ` +
      'scripts/verify-node.sh). Node.js is MIT; the binary includes the third-party components ' +
      '(V8, OpenSSL, ICU, libuv and others) whose licences its LICENSE file lists.',
    licenceFiles: { 'node/LICENSE': path.join(nodeDir, 'LICENSE') },
  };
}

/** The image the webhook file runs on (`NAME:TAG@sha256:...`), as a component. */
export function baseImageComponent(reference: string): Component {
  const m = /^([^@]+?)(?::([^:@/]+))?@(sha256:[0-9a-f]{64})$/.exec(reference);
  if (!m?.[1] || !m[3]) throw new Error(`${reference}: not an image reference pinned by digest`);
  const [repository, name] = [m[1], m[1].split('/').at(-1) ?? m[1]];
  return {
    id: 'SPDXRef-Package-base-image',
    name: repository,
    version: `${m[2] ?? ''}@${m[3]}`,
    license: 'NOASSERTION',
    purl: `pkg:oci/${name}@${encodeURIComponent(m[3])}?repository_url=${encodeURIComponent(repository)}`,
    download: `https://${repository}`,
    comment:
      'The base image (Node.js and the Debian packages it needs). Its packages carry their ' +
      'copyright files under /usr/share/doc and are listed in /var/lib/dpkg/status.d.',
    licenceFiles: {},
  };
}
