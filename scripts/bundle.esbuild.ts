// The esbuild options of the init program, the one place they are written: scripts/bundle.ts
// builds the bundle's app/program.cjs with them, scripts/build.ts the package's
// dist/init/vault-inject-env.js (the `vault-inject-env` bin, CommonJS by dist/init/package.json).
// One program, two file names.
import type { BuildOptions, Plugin } from 'esbuild';

// node-vault requires axios and debug at load time, though we give it our own transport and a
// no-op logger (init-binary/src/vault/transport.ts): in the program they are stubs that fail
// loudly if ever called. Loading axios would cost ~40 ms of every container start. Likewise tv4,
// mustache and its generated commands (commands.js): we give node-vault a request check, no
// templates and no commands (init-binary/src/vault/http.ts); ~3 ms of every start.
const STUBS: Readonly<Record<string, string>> = {
  tv4: 'module.exports = { validate() { throw new Error("tv4 is not bundled: node-vault must be given a request check"); } };',
  mustache:
    'module.exports = { render() { throw new Error("mustache is not bundled: node-vault commands are not used"); } };',
  './commands.js': 'module.exports = {};',
  debug: 'module.exports = () => () => undefined;',
  axios:
    'module.exports = { create() { throw new Error("axios is not bundled: node-vault must be given our transport"); } };',
  // node-vault requires https at load time but only uses it without a transport of its own;
  // node:https costs 20+ ms to load, so load it only if something touches it.
  https:
    'module.exports = new Proxy({}, { get: (_, k) => process.getBuiltinModule("node:https")[k] });',
};

const stubs: Plugin = {
  name: 'unused-node-vault-dependencies',
  setup(b) {
    b.onResolve({ filter: /^(axios|debug|https|tv4|mustache)$/ }, (args) => ({
      path: args.path,
      namespace: 'stub',
    }));
    b.onResolve({ filter: /^\.\/commands\.js$/ }, (args) =>
      /[\\/]node-vault[\\/]/.test(args.importer)
        ? { path: args.path, namespace: 'stub' }
        : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'stub' }, (args) => ({
      loader: 'js',
      contents: STUBS[args.path] ?? '',
    }));
  },
};

/**
 * The init program as one CommonJS file at `outfile`, runnable directly (`#!`) or required.
 * CommonJS, not ESM: Node's ESM loader (resolving, linking, the module job) costs ~1 ms of CPU more
 * at every container start (docs/benchmarks.md). The sources are ESM without top-level await; the
 * one `import.meta.url` (copy mode) becomes the file's URL, computed only when read.
 */
export function initProgramOptions(outfile: string): BuildOptions {
  return {
    entryPoints: ['init-binary/src/main.ts'],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node24',
    format: 'cjs',
    minifySyntax: true,
    minifyWhitespace: true,
    legalComments: 'external',
    define: { 'import.meta.url': '__importMeta.url' },
    banner: {
      js: "#!/usr/bin/env node\nconst __importMeta = { get url() { return require('node:url').pathToFileURL(__filename).href; } };",
    },
    plugins: [stubs],
    logLevel: 'warning',
  };
}
