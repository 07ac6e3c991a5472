// The program part of the /vault-inject bundle (scripts/bundle.sh does the rest): the init program
// as one ESM file, plus a tiny entry that turns on Node's compile cache shipped in the bundle.
// Usage: node scripts/bundle.ts OUT_DIR   (writes OUT_DIR/app/)
import { build, type Plugin } from 'esbuild';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';

const out = process.argv[2];
if (!out) throw new Error('usage: node scripts/bundle.ts OUT_DIR');
const app = resolve(out, 'app');

// node-vault requires axios and debug at load time, though we give it our own transport and a
// no-op logger (init-binary/src/vault/transport.ts): in the bundle they are stubs that fail loudly
// if ever called. Loading axios would cost ~40 ms of every container start.
const stubs: Plugin = {
  name: 'unused-node-vault-dependencies',
  setup(b) {
    b.onResolve({ filter: /^(axios|debug|https)$/ }, (args) => ({
      path: args.path,
      namespace: 'stub',
    }));
    b.onLoad({ filter: /.*/, namespace: 'stub' }, (args) => ({
      loader: 'js',
      contents: STUBS[args.path] ?? '',
    }));
  },
};

const STUBS: Readonly<Record<string, string>> = {
  debug: 'module.exports = () => () => undefined;',
  axios:
    'module.exports = { create() { throw new Error("axios is not bundled: node-vault must be given our transport"); } };',
  // node-vault requires https at load time but only uses it without a transport of its own;
  // node:https costs 20+ ms to load, so load it only if something touches it.
  https:
    'module.exports = new Proxy({}, { get: (_, k) => process.getBuiltinModule("node:https")[k] });',
};

await rm(app, { recursive: true, force: true });
await mkdir(app, { recursive: true });
await build({
  entryPoints: ['init-binary/src/main.ts'],
  outfile: join(app, 'program.mjs'),
  bundle: true,
  platform: 'node',
  target: 'node24',
  format: 'esm',
  minifySyntax: true,
  minifyWhitespace: true,
  legalComments: 'external',
  banner: {
    js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
  },
  plugins: [stubs],
  logLevel: 'warning',
});

// The entry the launcher runs. `portable` keys the cache by paths relative to its directory, so a
// cache made here is valid wherever the bundle is mounted; Node only reads it (the bundle is
// read-only in pods) and silently skips writing.
await writeFile(
  join(app, 'vault-inject-env.mjs'),
  `import { enableCompileCache } from 'node:module';
import { fileURLToPath } from 'node:url';
enableCompileCache({ directory: fileURLToPath(new URL('./compile-cache', import.meta.url)), portable: true });
await import('./program.mjs');
`,
);
console.log(`bundled the program into ${app}`);
