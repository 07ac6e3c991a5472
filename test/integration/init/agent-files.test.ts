// Files from Vault Agent templates (vault.hashicorp.com/agent-inject-secret-NAME and
// agent-inject-template-NAME) rendered by the BUILT bundle against a real OpenBao dev server (KV v2,
// KV v1, PKI) into tmpfs, as the webhook encodes them: exact content, per-file modes, the exit
// code of a missing secret with no file written (docs/configuration.md#vault-agent-injector-annotations).
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { after, describe } from 'node:test';
import { join } from 'node:path';
import { defaultAgentTemplate } from '../../../init-binary/src/contract/agent-template.ts';
import {
  encodeSecretFiles,
  type AgentFile,
} from '../../../init-binary/src/contract/secret-files.ts';
import { openBaoSuite } from './harness.ts';

const CANARY = `canary-${process.pid}-a93e`;
const shm = mkdtempSync('/dev/shm/vault-inject-agent-');
after(() => rmSync(shm, { recursive: true, force: true }));

const s = openBaoSuite({
  canary: CANARY,
  checkRun: (r) => assert.doesNotMatch(r.stdout, new RegExp(CANARY), 'a secret reached stdout'),
  setUp: async (bao) => {
    await bao.api('POST', 'secret/data/db', { data: { username: 'app', password: CANARY } });
    await bao.api('POST', 'kv/legacy', { token: `${CANARY}-v1`, port: '5432' });
  },
});
const { it, go } = s;

const A = 'vault.hashicorp.com/agent-inject-template-';

function agentFiles(agent: Record<string, AgentFile>, modes?: Record<string, number>) {
  const dir = mkdtempSync(join(shm, 'd-'));
  return {
    dir,
    value: encodeSecretFiles({ dir, mode: 0o400, files: {}, agent, ...(modes ? { modes } : {}) }),
  };
}

const read = (dir: string, name: string) => readFileSync(join(dir, name), 'utf8');

describe('Vault Agent templates against OpenBao', () => {
  it('renders the default template, custom KV v2 / KV v1 templates and a PKI issue', async () => {
    const f = agentFiles(
      {
        'db-default': {
          template: defaultAgentTemplate('secret/data/db'),
          annotation: 'vault.hashicorp.com/agent-inject-secret-db-default',
        },
        'db.env': {
          template:
            '{{- with secret "secret/data/db" -}}\n{{ range $k, $v := .Data.data -}}\nexport {{ $k | toUpper }}="{{ $v }}"\n{{ end -}}\n{{- end }}',
          annotation: `${A}db.env`,
        },
        dsn: {
          template:
            '{{ with secret "secret/data/db" }}{{ printf "postgres://%s:%s@db/app" .Data.data.username .Data.data.password }}{{ end }}',
          annotation: `${A}dsn`,
        },
        'db.json': {
          template: '{{ with secret "secret/data/db" }}{{ .Data.data | toJSON }}{{ end }}',
          annotation: `${A}db.json`,
        },
        'no-data': {
          // A KV v2 path written without data/: read through its mount, as consul-template does.
          template: '{{ with secret "secret/db" }}{{ .Data.data.username }}{{ end }}',
          annotation: `${A}no-data`,
        },
        legacy: {
          template:
            '{{ with secret "kv/legacy" }}{{ .Data.token | base64Encode | base64Decode }}:{{ .Data.port }}{{ end }}',
          annotation: `${A}legacy`,
        },
        'tls.pem': {
          template:
            '{{ with secret "pki/issue/app" "common_name=web.example.test" "ttl=1h" }}{{ .Data.certificate }}\n{{ .Data.private_key }}\n{{ .Data.issuing_ca }}{{ end }}',
          annotation: `${A}tls.pem`,
        },
      },
      { 'db.env': 0o440 },
    );
    const r = await go(s.jwtEnv({ VAULT_INJECT_SECRET_FILES: f.value }), [
      '/bin/sh',
      '-c',
      `echo "PID=$$"; ls -A ${f.dir} | tr '\\n' ' '; echo`,
    ]);
    assert.equal(r.code, 0, r.stderr);
    const dbDefault = read(f.dir, 'db-default');
    // vault-k8s' default rendering of a KV v2 secret: `data: map[…]` then `metadata: map[…]`.
    assert.equal(dbDefault.split('\n')[0], `data: map[password:${CANARY} username:app]`);
    assert.match(
      dbDefault.split('\n')[1] ?? '',
      /^metadata: map\[created_time:\S+ custom_metadata:<nil> deletion_time: destroyed:false version:1\]$/,
    );
    assert.equal(dbDefault.split('\n').length, 3);
    assert.equal(read(f.dir, 'db.env'), `export PASSWORD="${CANARY}"\nexport USERNAME="app"\n`);
    assert.equal(read(f.dir, 'dsn'), `postgres://app:${CANARY}@db/app`);
    assert.equal(read(f.dir, 'db.json'), `{"password":"${CANARY}","username":"app"}`);
    assert.equal(read(f.dir, 'legacy'), `${CANARY}-v1:5432`);
    assert.equal(read(f.dir, 'no-data'), 'app');
    const [cert, ...rest] = read(f.dir, 'tls.pem').split('\n-----BEGIN');
    const x509 = new X509Certificate(cert ?? '');
    assert.match(x509.subject, /CN=web\.example\.test/);
    assert.match(rest.join(''), /PRIVATE KEY/);
    assert.equal(statSync(join(f.dir, 'db.env')).mode & 0o777, 0o440);
    assert.equal(statSync(join(f.dir, 'dsn')).mode & 0o777, 0o400);
    assert.match(r.stdout, /^db-default db\.env db\.json dsn legacy no-data tls\.pem $/m);
  });

  it('fails with 78 naming the annotation and path of a missing secret; writes no file', async () => {
    const f = agentFiles({
      ok: { template: defaultAgentTemplate('secret/data/db'), annotation: `${A}ok` },
      gone: {
        template: '{{ with secret "secret/data/nope" }}{{ .Data.data.x }}{{ end }}',
        annotation: `${A}gone`,
      },
    });
    const r = await go(s.jwtEnv({ VAULT_INJECT_SECRET_FILES: f.value }));
    assert.equal(r.code, 78);
    assert.equal(
      r.stderr.trim().split('\n').at(-1),
      `vault-inject-env: ${A}gone: secret secret/data/nope not found`,
    );
    assert.deepEqual(readdirSync(f.dir), []);
  });

  it('fails with 78 on a missing key, naming the expression, never the value; no file', async () => {
    const f = agentFiles({
      ok: { template: defaultAgentTemplate('secret/data/db'), annotation: `${A}ok` },
      typo: {
        template: '{{ with secret "secret/data/db" }}{{ .Data.data.pasword }}{{ end }}',
        annotation: `${A}typo`,
      },
    });
    const r = await go(s.jwtEnv({ VAULT_INJECT_SECRET_FILES: f.value }));
    assert.equal(r.code, 78);
    assert.match(r.stderr, /agent-inject-template-typo: \.Data\.data\.pasword has no value/);
    assert.deepEqual(readdirSync(f.dir), []);
  });
});
