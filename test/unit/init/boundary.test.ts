// The boundary between the two programs, as eslint.config.js enforces it: the webhook imports
// only init-binary/src/contract/, the contract imports only itself, the init program never
// imports the webhook. Checked with ESLint itself on code placed where each rule applies.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ESLint } from 'eslint';

const eslint = new ESLint();

async function restricted(filePath: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath });
  return (result?.messages ?? [])
    .filter((m) => m.ruleId === 'no-restricted-imports')
    .map((m) => m.message);
}

const use = (from: string): string => `import { x } from '${from}';\nexport const y = x;\n`;

describe('the import boundary of the webhook and the init program', () => {
  it('lets the webhook import the contract, and nothing else of init-binary', async () => {
    const file = 'webhook/src/mutation/boundary-probe.ts';
    assert.deepEqual(await restricted(file, use('../../../init-binary/src/contract/index.ts')), []);
    assert.deepEqual(await restricted(file, use('../../../init-binary/src/contract/paths.ts')), []);
    for (const other of ['config.ts', 'errors.ts', 'run.ts', 'vault/http.ts', 'contract.ts']) {
      const messages = await restricted(file, use(`../../../init-binary/src/${other}`));
      assert.equal(messages.length, 1, other);
      assert.match(messages[0] ?? '', /imports only init-binary\/src\/contract/);
    }
  });

  it('keeps the contract self-contained and the init program away from the webhook', async () => {
    const contract = 'init-binary/src/contract/boundary-probe.ts';
    assert.deepEqual(await restricted(contract, use('./references.ts')), []);
    assert.equal((await restricted(contract, use('../config.ts'))).length, 1);
    assert.equal((await restricted(contract, use('node:fs'))).length, 1);
    const init = 'init-binary/src/boundary-probe.ts';
    assert.equal((await restricted(init, use('../../webhook/src/errors.ts'))).length, 1);
    assert.deepEqual(await restricted(init, use('./contract/index.ts')), []);
  });
});
