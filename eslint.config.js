// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

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
);
