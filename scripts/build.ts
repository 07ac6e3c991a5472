// Builds dist/: the webhook CLI (ESM) and the init program (CommonJS), each one self-contained file.
// Usage: node scripts/build.ts [webhook|init]...   (default: both)
import { build, type BuildOptions } from 'esbuild';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { initProgramOptions } from './bundle.esbuild.ts';

// Some dependencies are CommonJS and call require(); give the ESM bundle one.
const requireShim =
  "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);";

const common: BuildOptions = {
  bundle: true,
  platform: 'node',
  target: 'node24',
  format: 'esm',
  sourcemap: 'linked',
  legalComments: 'linked',
  banner: { js: `#!/usr/bin/env node\n${requireShim}` },
  logLevel: 'warning',
};

const targets: Record<string, BuildOptions> = {
  webhook: {
    ...common,
    entryPoints: ['webhook/src/main.ts'],
    outfile: 'dist/webhook/vault-inject.js',
    // V8 keeps the whole source in memory for the process's life: whitespace and comments out
    // (9.7 -> 5.0 MB), and ASCII only, held one byte per character instead of two (docs/benchmarks.md).
    minifyWhitespace: true,
    minifySyntax: true,
  },
  // The very program of the /vault-inject bundle (same options, scripts/bundle.esbuild.ts).
  init: initProgramOptions('dist/init/vault-inject-env.js'),
};

const wanted = process.argv.slice(2);
for (const name of wanted.length > 0 ? wanted : Object.keys(targets)) {
  const options = targets[name];
  if (!options)
    throw new Error(`unknown build target "${name}" (known: ${Object.keys(targets).join(', ')})`);
  const started = performance.now();
  await build(options);
  await chmod(options.outfile as string, 0o755);
  // The init program is CommonJS (scripts/bundle.esbuild.ts); the package is "type": "module".
  if (name === 'init') await writeFile('dist/init/package.json', '{ "type": "commonjs" }\n');
  if (name === 'webhook') await assertAscii(options.outfile as string);
  console.log(`built ${options.outfile} in ${Math.round(performance.now() - started)} ms`);
}

/** A non-ASCII character (esbuild keeps those of regex literals) doubles the source V8 holds. */
async function assertAscii(file: string): Promise<void> {
  const bytes = await readFile(file);
  const at = bytes.findIndex((b) => b > 0x7f);
  if (at !== -1) {
    const near = bytes.subarray(Math.max(0, at - 40), at + 10).toString('utf8');
    throw new Error(
      `${file}: non-ASCII at byte ${at} (${JSON.stringify(near)}): ` +
        'escape it (\\uXXXX) in the source; V8 would hold the whole file two bytes per character',
    );
  }
}
