// The README and docs/ name things that must exist: links between documents (and their
// #anchors), repository files and directories, webhook flags, `make` targets and VAULT_INJECT_*
// variables. Each is checked against the tree, webhook/src/config.ts and the Makefile, so a
// renamed file or flag fails here instead of misleading a reader.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { COPY_FLAG } from '../../init-binary/src/contract/names.ts';
import { CERTS_FLAGS } from '../../webhook/src/cli/certs.ts';
import { MUTATE_FLAGS } from '../../webhook/src/cli/mutate.ts';
import { FLAGS } from '../../webhook/src/config.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const DOCS = [
  'README.md',
  ...['docs', 'docs/adr'].flatMap((dir) =>
    readdirSync(path.join(ROOT, dir))
      .filter((f) => f.endsWith('.md'))
      .map((f) => `${dir}/${f}`),
  ),
];
const read = (file: string): string => readFileSync(path.join(ROOT, file), 'utf8');

/** Text outside fenced code blocks, and the fenced blocks' contents. */
function split(text: string): { prose: string; code: string } {
  const parts = text.split(/^```.*$/m);
  return {
    prose: parts.filter((_, i) => i % 2 === 0).join('\n'),
    code: parts.filter((_, i) => i % 2 === 1).join('\n'),
  };
}

const inlineCode = (prose: string): string[] =>
  [...prose.matchAll(/`([^`\n]+)`/g)].map((m) => m[1] ?? '');

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens. */
function anchors(markdown: string): Set<string> {
  const slugs = new Set<string>();
  for (const m of split(markdown).prose.matchAll(/^#{1,6} +(.+)$/gm)) {
    slugs.add(
      (m[1] ?? '')
        .trim()
        .toLowerCase()
        .replace(/[^\p{L}\p{N} _-]/gu, '')
        .replace(/ /g, '-'),
    );
  }
  return slugs;
}

const TOP = ['webhook', 'init-binary', 'deploy', 'test', 'scripts', 'docs', '.ci'];
const TOP_FILES = new Set([
  'Makefile',
  'Dockerfile.webhook',
  'Dockerfile.init',
  'package.json',
  'package-lock.json',
  'tsconfig.json',
  'CHANGELOG.md',
  'README.md',
]);

/** A token that names a file or directory of the repository (not a pattern or placeholder). */
function repoPath(token: string): string | undefined {
  const t = token.replace(/^\.\//, '').replace(/[.,;:)]+$/, '');
  if (TOP_FILES.has(t)) return t;
  const first = t.split('/')[0] ?? '';
  if (!TOP.includes(first) || !t.includes('/')) return undefined;
  if (!/^[\w./-]+$/.test(t)) return undefined; // globs, `…`, ${VAR}, <name>
  if (t.split('/').some((s) => /^[A-Z]+(\.\w+)?$/.test(s))) return undefined; // NAME.sh, N
  return t;
}

function namedPaths(markdown: string): string[] {
  const { prose, code } = split(markdown);
  const tokens = [
    ...inlineCode(prose).flatMap((c) => c.split(/[\s'"=(]+/)),
    ...code.split(/[\s'"=(]+/),
  ];
  return [...new Set(tokens.map(repoPath).filter((p): p is string => p !== undefined))];
}

const VARIABLE = /VAULT_INJECT_[A-Z0-9_]+/g;
/** `VAULT_INJECT_HIDDEN_<NAME>` and `VAULT_INJECT_HIDDEN_` name the same prefix. */
const bare = (name: string): string => name.replace(/_+$/, '');

/** Every `VAULT_INJECT_*` name the code, scripts, chart and tests use. */
function usedVariables(): Set<string> {
  const names = new Set<string>();
  const walk = (dir: string): void => {
    for (const entry of readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
      const rel = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(rel);
      else if (/\.(ts|c|sh|yaml|yml|tpl|json|in)$/.test(entry.name)) {
        for (const m of read(rel).matchAll(VARIABLE)) names.add(bare(m[0]));
      }
    }
  };
  for (const dir of ['webhook', 'init-binary', 'scripts', 'test', 'deploy']) walk(dir);
  for (const m of read('Makefile').matchAll(VARIABLE)) names.add(bare(m[0]));
  // config.ts builds its variables as E('NAME').
  for (const f of FLAGS) names.add(f.env);
  return names;
}

/** Flags of `vault-inject` subcommands other than the webhook's (webhook/src/cli/). */
function otherCommandFlags(): Set<string> {
  const flags = [...MUTATE_FLAGS, ...CERTS_FLAGS].map((f) => f.flag);
  // The init program's own flag, which docs name when they show the copy init container.
  return new Set([...flags, COPY_FLAG.slice(2)]);
}

const WEBHOOK_FLAG_FAMILY =
  /^--(vault-addr|allowed-|allow-|auth-|init-image|init-log|delivery|emptydir-|copy-|listen|telemetry-|tls-|self-signed|request-|shutdown-|read-sources|registry-|log-level)/;

describe('docs', () => {
  for (const doc of DOCS) {
    const text = read(doc);

    it(`${doc}: every link resolves, anchors included`, () => {
      const broken: string[] = [];
      for (const m of split(text).prose.matchAll(/\]\(([^)\s]+)\)/g)) {
        const link = m[1] ?? '';
        if (/^[a-z]+:/.test(link)) continue;
        const [file = '', anchor] = link.split('#');
        const target = file === '' ? doc : path.join(path.dirname(doc), file);
        if (!existsSync(path.join(ROOT, target))) {
          broken.push(`${link}: no ${target}`);
          continue;
        }
        if (anchor !== undefined && target.endsWith('.md') && !anchors(read(target)).has(anchor))
          broken.push(`${link}: no heading #${anchor} in ${target}`);
      }
      assert.deepEqual(broken, []);
    });

    it(`${doc}: every repository file it names exists`, () => {
      const missing = namedPaths(text).filter((p) => {
        const full = path.join(ROOT, p);
        return !existsSync(full) || (p.endsWith('/') && !statSync(full).isDirectory());
      });
      assert.deepEqual(missing, []);
    });

    it(`${doc}: every webhook flag it names exists`, () => {
      const known = new Set([...FLAGS.map((f) => f.flag), ...otherCommandFlags()]);
      const unknown = [
        ...new Set(
          inlineCode(split(text).prose)
            .flatMap((c) => c.match(/--[a-z][a-z0-9-]*[a-z0-9]/g) ?? [])
            .filter((f) => WEBHOOK_FLAG_FAMILY.test(f) && !known.has(f.slice(2))),
        ),
      ];
      assert.deepEqual(unknown, []);
    });

    it(`${doc}: every make target and VAULT_INJECT_* variable it names exists`, () => {
      const targets = new Set(
        [...read('Makefile').matchAll(/^([a-z][a-z0-9-]*):/gm)].map((m) => m[1] ?? ''),
      );
      const used = usedVariables();
      const problems = [
        ...[...text.matchAll(/`make ([a-z][a-z0-9-]*)/g)]
          .map((m) => m[1] ?? '')
          .filter((t) => !targets.has(t))
          .map((t) => `make ${t}`),
        ...[...new Set((text.match(VARIABLE) ?? []).map(bare))].filter((v) => !used.has(v)),
      ];
      assert.deepEqual(problems, []);
    });
  }

  it('docs/configuration.md documents no webhook flag that does not exist', () => {
    const doc = read('docs/configuration.md');
    // The first table under "## Flags": its rows up to the first line that is not one.
    const lines = doc.slice(doc.indexOf('## Flags')).split('\n');
    const start = lines.findIndex((l) => l.startsWith('|'));
    const end = lines.findIndex((l, i) => i > start && !l.startsWith('|'));
    const table = lines.slice(start, end).join('\n');
    const rows = [...table.matchAll(/^\| `--([a-z0-9-]+)` \|/gm)].map((m) => m[1] ?? '');
    assert.ok(rows.length > 0, 'the flag table was found');
    assert.deepEqual(
      rows.filter((r) => !FLAGS.some((f) => f.flag === r)),
      [],
    );
    assert.equal(rows.length, FLAGS.length, 'one row per flag');
  });

  it('the checks catch what they are for', () => {
    assert.equal(repoPath('webhook/src/config.ts'), 'webhook/src/config.ts');
    assert.equal(repoPath('scripts/components/NAME.sh'), undefined);
    assert.equal(repoPath("test/unit/**/*.test.ts'"), undefined);
    assert.deepEqual(
      namedPaths('see `webhook/src/nope.ts` and\n```sh\nscripts/gone.sh up\n```\n'),
      ['webhook/src/nope.ts', 'scripts/gone.sh'],
    );
    assert.ok(anchors('## The offline preview\n### `--tls-auto`\n').has('the-offline-preview'));
    assert.ok(anchors('### `--tls-auto`\n').has('--tls-auto'));
    assert.ok(WEBHOOK_FLAG_FAMILY.test('--registry-nope'));
  });
});
