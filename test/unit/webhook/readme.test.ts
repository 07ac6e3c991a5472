// The README's "pod before and after" is exactly what the preview produces for that pod, and the
// pod its command line section previews (docs/examples/pod.yaml) is that very pod.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { it } from 'node:test';
import { preview } from '../../../webhook/src/cli/mutate.ts';
import { injectionConfig, readFlags } from '../../../webhook/src/config.ts';

const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
const section = readme.slice(readme.indexOf('## A pod before and after'));
const blocks = [...section.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1] ?? '');

it('README: the pod after is what vault-inject mutate prints for the pod before', async () => {
  assert.ok(blocks.length >= 2, 'two yaml blocks');
  const result = await preview(blocks[0] ?? '', 'yaml', injectionConfig(readFlags([], {}).flags));
  assert.equal(result.exitCode, 0);
  assert.equal(blocks[1], result.stdout);
});

it('README: docs/examples/pod.yaml is the pod before', () => {
  const example = readFileSync(new URL('../../../docs/examples/pod.yaml', import.meta.url), 'utf8');
  assert.equal(example, blocks[0]);
});
