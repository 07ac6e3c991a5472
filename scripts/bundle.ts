// The program part of the /vault-inject bundle (scripts/bundle.sh does the rest): the init program
// as one CommonJS file, plus a tiny entry that turns on Node's compile cache shipped in the bundle.
// Usage: node scripts/bundle.ts OUT_DIR   (writes OUT_DIR/app/)
import { build } from 'esbuild';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { initProgramOptions } from './bundle.esbuild.ts';

const out = process.argv[2];
if (!out) throw new Error('usage: node scripts/bundle.ts OUT_DIR');
const app = resolve(out, 'app');

await rm(app, { recursive: true, force: true });
await mkdir(app, { recursive: true });
await build(initProgramOptions(join(app, 'program.cjs')));

// The entry the launcher runs. `portable` keys the cache by paths relative to its directory, so a
// cache made here is valid wherever the bundle is mounted; Node only reads it (the bundle is
// read-only in pods) and silently skips writing. CommonJS, as the program (scripts/bundle.esbuild.ts).
await writeFile(
  join(app, 'vault-inject-env.cjs'),
  `require('node:module').enableCompileCache({ directory: require('node:path').join(__dirname, 'compile-cache'), portable: true });
require('./program.cjs');
`,
);
console.log(`bundled the program into ${app}`);
