// The annotation table in docs/configuration.md is the table of webhook/src/mutation/annotations.ts
// rendered: every row there is documented, and every documented row exists (both directions, by
// comparing the whole table). UPDATE_DOCS=1 rewrites the docs' table from the code.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import * as A from '../../../webhook/src/mutation/annotations.ts';
import { MET, WARNED } from '../../../webhook/src/mutation/bank-vaults.ts';

const DOC = new URL('../../../docs/configuration.md', import.meta.url);
const BEGIN = '<!-- annotation table: generated from webhook/src/mutation/annotations.ts -->';
const END = '<!-- end of annotation table -->';

const code = (s: string): string => `\`${s}\``;

function render(): string {
  const rows = A.ANNOTATIONS.map((a) => {
    const row = a as Partial<A.SettingRow>;
    return [
      code(a.key),
      a.docAlias ?? a.aliases.map(code).join(', '),
      row.env === undefined ? '' : code(row.env),
      row.defaultFlag === undefined ? '' : code(row.defaultFlag),
      a.doc,
    ];
  });
  const head = ['annotation', 'aliases', 'init variable', 'default from', 'meaning'];
  return [head, head.map(() => '---'), ...rows].map((r) => `| ${r.join(' | ')} |`).join('\n');
}

const WARNED_BEGIN =
  '<!-- bank-vaults warned: generated from webhook/src/mutation/bank-vaults.ts -->';
const WARNED_END = '<!-- end of bank-vaults warned -->';

/** The Bank-Vaults annotations the webhook does not act on: one row each, with the warning's why. */
function renderWarned(): string {
  const rows = [
    ...Object.entries(WARNED).map(([name, why]) => [
      code(A.BANK_VAULTS_PREFIX + name),
      'always',
      why,
    ]),
    ...Object.entries(MET).map(([name, m]) => [
      code(A.BANK_VAULTS_PREFIX + name),
      `unless ${code(String(m.value))}`,
      m.fact,
    ]),
  ];
  const head = ['annotation', 'warned', 'why, and what to do instead'];
  return [head, head.map(() => '---'), ...rows].map((r) => `| ${r.join(' | ')} |`).join('\n');
}

/** The text between `begin` and `end` in the docs is `rendered` (or becomes it, UPDATE_DOCS=1). */
function generated(begin: string, end: string, rendered: string): void {
  const text = readFileSync(DOC, 'utf8');
  const start = text.indexOf(begin);
  const stop = text.indexOf(end);
  assert.ok(start >= 0 && stop > start, `docs/configuration.md lacks ${begin} ... ${end}`);
  if (process.env.UPDATE_DOCS === '1') {
    writeFileSync(DOC, `${text.slice(0, start + begin.length)}\n${rendered}\n${text.slice(stop)}`);
    return;
  }
  const documented = text.slice(start + begin.length, stop).trim();
  assert.equal(documented, rendered, 'run with UPDATE_DOCS=1 to regenerate the docs table');
}

describe('the Bank-Vaults annotations not acted on', () => {
  it('docs/configuration.md lists each, with the why of its warning', () => {
    generated(WARNED_BEGIN, WARNED_END, renderWarned());
  });
});

describe('the annotation table', () => {
  it('docs/configuration.md shows exactly the table of annotations.ts', () => {
    const text = readFileSync(DOC, 'utf8');
    const start = text.indexOf(BEGIN);
    const end = text.indexOf(END);
    assert.ok(start >= 0 && end > start, `docs/configuration.md lacks ${BEGIN} ... ${END}`);
    const documented = text.slice(start + BEGIN.length, end).trim();
    if (process.env.UPDATE_DOCS === '1') {
      writeFileSync(DOC, `${text.slice(0, start + BEGIN.length)}\n${render()}\n${text.slice(end)}`);
      return;
    }
    assert.equal(documented, render(), 'run with UPDATE_DOCS=1 to regenerate the docs table');
  });

  it('each row has a doc line and names of its own', () => {
    const seen = new Set<string>();
    for (const a of A.ANNOTATIONS) {
      assert.ok(a.doc.trim() !== '', `${a.key} has no doc line`);
      assert.ok(!a.doc.includes('|') && !a.doc.includes('\n'), `${a.key}: doc fits one cell`);
      for (const name of [a.key, ...a.aliases]) {
        assert.ok(!seen.has(name), `${name} is used twice`);
        seen.add(name);
      }
    }
  });

  it('every default flag is a documented webhook flag', () => {
    const text = readFileSync(DOC, 'utf8');
    for (const row of A.SETTINGS) {
      const flag = (row as Partial<A.SettingRow>).defaultFlag;
      if (flag !== undefined)
        assert.ok(text.includes(`| \`${flag}\` |`), `${flag} is not in the flag table`);
    }
  });
});

describe('aliases', () => {
  // Room for other aliases (e.g. a vault.hashicorp.com/ name): read after ours and Bank-Vaults'.
  const a: A.Annotation = {
    key: 'vault-inject.dev/role',
    alias: 'vault.security.banzaicloud.io/vault-role',
    aliases: ['vault.security.banzaicloud.io/vault-role', 'vault.hashicorp.com/role'],
    doc: 'x',
  };
  it('ours first, then the aliases in their order', () => {
    const all = {
      'vault.hashicorp.com/role': 'c',
      'vault.security.banzaicloud.io/vault-role': 'b',
      'vault-inject.dev/role': 'a',
    };
    assert.deepEqual(A.readAnnotation(all, a), { key: 'vault-inject.dev/role', value: 'a' });
    const two: Record<string, string> = { ...all };
    delete two['vault-inject.dev/role'];
    assert.equal(A.readAnnotation(two, a)?.value, 'b');
    assert.deepEqual(A.readAnnotation({ 'vault.hashicorp.com/role': 'c' }, a), {
      key: 'vault.hashicorp.com/role',
      value: 'c',
    });
    assert.equal(A.readAnnotation({ other: 'x' }, a), undefined);
  });
});
