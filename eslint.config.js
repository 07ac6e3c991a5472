// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// Import boundaries (docs/architecture.md, "Layers"). Each entry: the files, and the webhook folders
// or files (relative to webhook/src) they must not import. Imports are matched as written, so a
// folder is caught at any depth (`../admission/`, `../../admission/`).
const WEBHOOK_IO = [
  'node:fs',
  'node:fs/promises',
  'node:net',
  'node:tls',
  'node:http',
  'node:https',
  'node:child_process',
  'fastify',
  '@kubernetes/client-node',
  'pino',
  'prom-client',
];
const LAYERS = [
  { files: ['webhook/src/cli/**'], forbid: ['main'] },
  { files: ['webhook/src/app.ts'], forbid: ['main', 'cli'] },
  { files: ['webhook/src/admission/**'], forbid: ['main', 'cli', 'app', 'tls'] },
  { files: ['webhook/src/k8s/**'], forbid: ['main', 'cli', 'app', 'admission', 'tls'] },
  {
    files: ['webhook/src/registry/**'],
    forbid: ['main', 'cli', 'app', 'admission', 'k8s', 'tls', 'metrics'],
  },
  {
    files: ['webhook/src/tls/**'],
    forbid: ['main', 'cli', 'app', 'admission', 'k8s', 'registry', 'mutation', 'config', 'metrics'],
  },
  {
    // Flags become the typed settings of the layers below (mutation, tls); nothing above.
    files: ['webhook/src/config/**'],
    forbid: ['main', 'cli', 'app', 'admission', 'k8s', 'registry', 'metrics'],
  },
  {
    files: ['webhook/src/config.ts'],
    forbid: ['main', 'cli', 'app', 'admission', 'k8s', 'registry', 'metrics'],
  },
  // The mutation is a pure function of the pod and its settings: no I/O of any kind.
  {
    files: ['webhook/src/mutation/**'],
    forbid: ['main', 'cli', 'app', 'admission', 'k8s', 'registry', 'tls', 'config', 'metrics'],
    io: true,
  },
  {
    files: [
      'webhook/src/metrics.ts',
      'webhook/src/errors.ts',
      'webhook/src/log.ts',
      'webhook/src/version.ts',
    ],
    forbid: ['main', 'cli', 'app', 'admission', 'k8s', 'registry', 'tls', 'config', 'mutation'],
  },
];
// Inside the layers' own rules (which replace the webhook-wide one below for their files), the
// boundary to the init program is repeated.
const WEBHOOK_TO_INIT = {
  regex: '(^|/)init-binary/(?!src/contract/)',
  message: 'The webhook imports only init-binary/src/contract/ (the shared contract).',
};
const boundaries = [
  ...LAYERS.map(({ files, forbid, io }) => ({
    files,
    rules: {
      'no-restricted-imports': [
        'error',
        {
          ...(io
            ? {
                paths: WEBHOOK_IO.map((name) => ({
                  name,
                  message: 'webhook/src/mutation is pure: no I/O',
                })),
              }
            : {}),
          patterns: [
            WEBHOOK_TO_INIT,
            {
              // From webhook/src itself the path starts with ./, from below with ../
              regex: `^(${files[0].split('/').length === 3 ? '\\./' : '(\\.\\./)+'})(${forbid.join('|')})(/|\\.ts$)`,
              message: `${files[0]} sits below ${forbid.join(', ')} (docs/architecture.md)`,
            },
          ],
        },
      ],
    },
  })),
];

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', 'coverage/', 'deploy/', '.tmp/', '**/*.d.ts'] },
  js.configs.recommended,
  ...tseslint.configs.strict,
  ...tseslint.configs.stylistic,
  {
    languageOptions: {
      globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly' },
    },
    rules: {
      complexity: ['error', 20],
      'max-depth': ['error', 4],
      'max-lines-per-function': ['error', { max: 120, skipBlankLines: true, skipComments: true }],
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      'no-console': 'error',
    },
  },
  {
    // The one boundary between the two programs: the webhook uses the init program's contract
    // module (names, reference grammar, value parsers, error base) and nothing else of it.
    files: ['webhook/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              // Anything under init-binary/ but its src/contract/ directory.
              regex: '(^|/)init-binary/(?!src/contract/)',
              message: 'The webhook imports only init-binary/src/contract/ (the shared contract).',
            },
          ],
        },
      ],
    },
  },
  {
    // The init program stands alone: it never imports the webhook.
    files: ['init-binary/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['**/webhook/**'], message: 'The init program never imports the webhook.' },
          ],
        },
      ],
    },
  },
  {
    // The contract is pure and self-contained: the webhook bundles it without the rest.
    files: ['init-binary/src/contract/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['../**', '**/webhook/**', 'node:*', 'fastify', 'pino', 'node-vault'],
              message: 'The contract imports only its own files (no I/O, no other module).',
            },
          ],
        },
      ],
    },
  },
  {
    // Tests are tables; long describe blocks are fine there, and they may print.
    files: ['test/**/*.ts', 'scripts/**/*.ts'],
    rules: { 'max-lines-per-function': 'off', 'no-console': 'off' },
  },
  {
    // The size gates of the sources (docs/architecture.md): a file says one thing, a function
    // takes few enough branches to read in one go, and more than four inputs travel as an object.
    files: ['webhook/src/**/*.ts', 'init-binary/src/**/*.ts', 'scripts/**/*.ts'],
    rules: {
      complexity: ['error', 15],
      'max-params': ['error', 4],
      'max-lines': ['error', { max: 400 }],
    },
  },
  ...boundaries,
);
