// The layers of docs/architecture.md, as eslint.config.js enforces them: an import that runs up a
// layer, or I/O in the pure mutation, is refused; the imports the layers are meant to make pass.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ESLint } from 'eslint';

const eslint = new ESLint();

async function restricted(filePath: string, from: string): Promise<number> {
  const code = `import { x } from '${from}';\nexport const y = x;\n`;
  const [result] = await eslint.lintText(code, { filePath });
  return (result?.messages ?? []).filter((m) => m.ruleId === 'no-restricted-imports').length;
}

describe('the layers of the webhook', () => {
  const refused: [string, string][] = [
    ['webhook/src/mutation/probe.ts', '../registry/oci/lru.ts'],
    ['webhook/src/mutation/probe.ts', '../admission/patch.ts'],
    ['webhook/src/mutation/probe.ts', '../config.ts'],
    ['webhook/src/mutation/probe.ts', 'node:fs'],
    ['webhook/src/mutation/probe.ts', '@kubernetes/client-node'],
    ['webhook/src/registry/oci/probe.ts', '../../admission/pipeline.ts'],
    ['webhook/src/registry/probe.ts', '../k8s/sources.ts'],
    ['webhook/src/admission/probe.ts', '../cli/webhook.ts'],
    ['webhook/src/admission/probe.ts', '../app.ts'],
    ['webhook/src/tls/auto/probe.ts', '../../registry/setup.ts'],
    ['webhook/src/config/probe.ts', '../admission/handler.ts'],
    ['webhook/src/cli/probe.ts', '../main.ts'],
    ['webhook/src/errors.ts', './mutation/types.ts'],
    ['webhook/src/mutation/probe.ts', '../../../init-binary/src/config.ts'],
  ];
  for (const [file, from] of refused) {
    it(`refuses ${from} in ${file}`, async () => {
      assert.equal(await restricted(file, from), 1);
    });
  }

  const allowed: [string, string][] = [
    ['webhook/src/admission/probe.ts', '../mutation/mutate.ts'],
    ['webhook/src/k8s/probe.ts', '../registry/oci/docker-config.ts'],
    ['webhook/src/registry/probe.ts', '../config.ts'],
    ['webhook/src/config/probe.ts', '../mutation/settings.ts'],
    ['webhook/src/cli/probe.ts', '../app.ts'],
    ['webhook/src/mutation/probe.ts', '../../../init-binary/src/contract/index.ts'],
    ['webhook/src/mutation/probe.ts', '../errors.ts'],
  ];
  for (const [file, from] of allowed) {
    it(`allows ${from} in ${file}`, async () => {
      assert.equal(await restricted(file, from), 0);
    });
  }
});
