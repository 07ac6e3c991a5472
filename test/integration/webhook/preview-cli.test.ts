// The built `vault-inject mutate`, as a user runs it; `--help` of every subcommand; the README's
// command line section run as written, in a fresh home directory.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { CERTS_FLAGS } from '../../../webhook/src/cli/certs.ts';
import { MUTATE_FLAGS } from '../../../webhook/src/cli/mutate.ts';
import { FLAGS, type FlagSpec } from '../../../webhook/src/config.ts';

const bin = new URL('../../../dist/webhook/vault-inject.js', import.meta.url).pathname;
const fixtures = new URL('../../fixtures/admission/', import.meta.url);

function run(args: string[], input?: string) {
  return spawnSync(process.execPath, [bin, ...args], { input, encoding: 'utf8' });
}

describe('dist/webhook/vault-inject.js mutate', () => {
  it('prints the same pod as the webhook, from stdin', () => {
    const pod = JSON.parse(readFileSync(new URL('command-args/review.json', fixtures), 'utf8'))
      .request.object;
    const r = run(['mutate', '-f', '-', '-o', 'json'], JSON.stringify(pod));
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(
      JSON.parse(r.stdout),
      JSON.parse(readFileSync(new URL('command-args/pod-after.json', fixtures), 'utf8')),
    );
  });

  it('reads multi-document YAML from a file and exits 0 with a warning for a container without command', () => {
    const r = run(['mutate', '-f', new URL('preview/workloads.yaml', fixtures).pathname]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /\/vault-inject\/bin\/vault-inject-env/);
    assert.match(
      r.stderr,
      /document 3 \(CronJob report\): warning: container "report" has no command/,
    );
  });

  it('exits 1 for a document it cannot preview, naming document and field', () => {
    const r = run(['mutate', '-f', '-'], 'kind: Service\n---\nkind: Deployment\nspec: {}\n');
    assert.equal(r.status, 1);
    assert.equal(
      r.stderr,
      'document 2 (Deployment): "spec.template" is missing or not an object\n',
    );
    const empty = run(['mutate', '-f', '-'], '');
    assert.equal(empty.status, 1);
    assert.equal(empty.stderr, 'the input holds no document\n');
  });

  it('exits 2 for a bad flag, a missing -f or a file it cannot read', () => {
    for (const [args, message] of [
      [['mutate', '-f', '-', '-o', 'xml'], /-o: "xml" is not yaml, json or patch/],
      [['mutate'], /mutate needs -f FILE/],
      [['mutate', '-f', '/nonexistent/pod.yaml'], /cannot read \/nonexistent\/pod\.yaml/],
      [['mutate', '-f', '-', '--allowed-vault-addrs=ftp://x'], /--allowed-vault-addrs/],
    ] as const) {
      const r = run([...args], '');
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
      assert.equal(r.stdout, '');
    }
  });
});

/** The two lines `--help` prints for a flag: its name, then its default and variable. */
function assertListed(help: string, specs: readonly FlagSpec[]): void {
  for (const f of specs) {
    const at = help.indexOf(`  --${f.flag}${f.boolean ? '[' : ' '}`);
    assert.ok(at >= 0, `--${f.flag} is not listed`);
    const facts = help
      .slice(at)
      .split('\n')
      .find((l) => l.trim().startsWith('(default: '));
    const shown = f.default === '' ? '(empty)' : f.default;
    assert.ok(facts?.includes(`(default: ${shown}`), `--${f.flag}: default not shown`);
    if (f.env !== '')
      assert.ok(facts?.includes(`env: ${f.env}`), `--${f.flag}: variable not shown`);
    // The Bank-Vaults name of the variable, read after ours.
    if (f.envAlias !== undefined)
      assert.ok(facts?.includes(` or ${f.envAlias})`), `--${f.flag}: ${f.envAlias} not shown`);
  }
}

describe('vault-inject --help', () => {
  for (const [command, specs] of [
    ['webhook', FLAGS],
    ['mutate', MUTATE_FLAGS],
    ['certs', CERTS_FLAGS],
  ] as const) {
    it(`vault-inject ${command} --help lists every flag with its default and variable, exit 0`, () => {
      const r = run([command, '--help']);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stderr, '');
      assert.match(r.stdout, new RegExp(`^usage: vault-inject ${command} `));
      assertListed(r.stdout, specs);
    });
  }

  it('vault-inject --help lists every command and every flag, exit 0', () => {
    const r = run(['--help']);
    assert.equal(r.status, 0, r.stderr);
    for (const command of ['webhook', 'mutate', 'certs']) {
      assert.match(r.stdout, new RegExp(`== vault-inject ${command} ==`));
    }
    assertListed(r.stdout, [...FLAGS, ...CERTS_FLAGS]);
  });

  it('a bad configuration names every problem in one message, exit 2', () => {
    const r = run(['webhook', '--nope', '--listen=8443', '--delivery=ftp'], '');
    assert.equal(r.status, 2);
    assert.equal(
      r.stderr,
      [
        'vault-inject: 4 problems with flags and environment variables:',
        '  unknown flag --nope',
        '  --listen: "8443" is not HOST:PORT',
        '  set --tls-cert-file and --tls-key-file, or --tls-auto, or --self-signed for local use',
        '  --delivery: "ftp" is not one of emptydir, image',
        '',
      ].join('\n'),
    );
    const certs = run(['certs', '--service=s', '--nope'], '');
    assert.equal(certs.status, 2);
    assert.match(certs.stderr, /unknown flag --nope\n.*certs needs --service and --namespace/s);
  });
});

describe("README's command line section", () => {
  const root = path.resolve(import.meta.dirname, '../../..');
  const readme = readFileSync(path.join(root, 'README.md'), 'utf8');

  it('runs as written after `make install-cli`: vault-inject and vault-inject-env on PATH', () => {
    const section = readme.slice(readme.indexOf('## The command line'));
    const script = /```sh\n([\s\S]*?)```/.exec(section)?.[1] ?? '';
    assert.match(script, /^make install-cli\n/);
    const home = mkdtempSync(path.join(tmpdir(), 'vault-inject-home-'));
    try {
      const r = spawnSync('bash', ['-euo', 'pipefail', '-c', script], {
        cwd: root,
        encoding: 'utf8',
        env: {
          HOME: home,
          // Only so that the project's Node.js already fetched is found in this fresh home.
          VAULT_INJECT_CACHE:
            process.env['VAULT_INJECT_CACHE'] ?? path.join(homedir(), '.cache/vault-inject'),
          PATH: `${home}/.local/bin:/usr/local/bin:/usr/bin:/bin`,
        },
      });
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /usage:\n {2}vault-inject webhook /);
      const after = [...readme.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1] ?? '')[2];
      assert.ok(after && r.stdout.includes(after), 'the mutated pod, as the README shows it');
      assert.match(r.stdout, /^hello from a command started by vault-inject-env$/m);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });
});
