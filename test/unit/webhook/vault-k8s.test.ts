// The Vault Agent Injector's annotations at admission (docs/configuration.md#vault-agent-injector-
// annotations): aliases of our rows, agent-inject-secret files on the same memory volumes as ours,
// a warning for every annotation we do not act on, denials naming annotation and construct.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import fjp from 'fast-json-patch';
import { INIT_PROGRAM } from '../../../init-binary/src/contract/names.ts';
import { decodeSecretFiles } from '../../../init-binary/src/contract/secret-files.ts';
import { annotationWarnings } from '../../../webhook/src/mutation/bank-vaults.ts';
import type { Container, Pod } from '../../../webhook/src/mutation/types.ts';
import { decodePatch, harness, podReview, postReview } from './helpers.ts';

const V = 'vault.hashicorp.com/';

function pod(annotations: Record<string, string>, extra: Partial<Pod['spec']> = {}): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'p', namespace: 'apps', annotations },
    spec: {
      containers: [{ name: 'app', image: 'registry.example/app:1', command: ['/app'] }],
      ...extra,
    },
  };
}

async function review(p: Pod) {
  const h = harness();
  const res = await postReview(h, podReview(p, { namespace: 'apps' }));
  assert.equal(res.statusCode, 200, res.body);
  const { response } = res.json();
  const ops = decodePatch(response.patch) as fjp.Operation[];
  const after = fjp.applyPatch(structuredClone(p), ops, true, false).newDocument;
  return {
    allowed: response.allowed as boolean,
    message: (response.status?.message ?? '') as string,
    warnings: (response.warnings ?? []) as string[],
    after,
  };
}

const envOf = (c: Container | undefined, name: string) =>
  c?.env?.find((e) => e.name === name)?.value;

describe('Vault Agent Injector annotations at admission', () => {
  it('renders agent-inject-secret files: default and custom templates, file, perms, case', async () => {
    const template = '{{ with secret "secret/data/db" }}{{ .Data.data.password }}{{ end }}';
    const r = await review(
      pod({
        [`${V}agent-inject`]: 'true',
        [`${V}role`]: 'app',
        [`${V}agent-inject-secret-DB.conf`]: 'secret/data/db',
        [`${V}agent-inject-secret-pw`]: 'secret/data/db',
        [`${V}agent-inject-template-pw`]: template,
        [`${V}agent-inject-file-pw`]: 'password.txt',
        [`${V}agent-inject-perms-pw`]: '0440',
        [`${V}agent-pre-populate-only`]: 'true',
      }),
    );
    assert.ok(r.allowed, r.message);
    assert.deepEqual(r.warnings, []);
    const app = r.after.spec.containers[0];
    assert.equal(app?.command?.[0], INIT_PROGRAM);
    assert.equal(envOf(app, 'VAULT_ROLE'), 'app');
    assert.deepEqual(
      r.after.spec.volumes?.find((v) => v.name === 'vault-inject-files-0')?.emptyDir,
      { medium: 'Memory', sizeLimit: '1Mi' },
    );
    const spec = decodeSecretFiles(envOf(app, 'VAULT_INJECT_SECRET_FILES') ?? '');
    assert.deepEqual(spec, {
      dir: '/vault/secrets',
      mode: 0o400,
      files: {},
      agent: {
        // vault-k8s lower-cases the name unless preserve-secret-case is set.
        'db.conf': {
          template:
            '{{ with secret "secret/data/db" }}{{ range $k, $v := .Data }}{{ $k }}: {{ $v }}\n{{ end }}{{ end }}',
          annotation: `${V}agent-inject-secret-DB.conf`,
        },
        'password.txt': { template, annotation: `${V}agent-inject-template-pw` },
      },
      modes: { 'password.txt': 0o440 },
    });
  });

  it('maps auth-path (a whole path) to the auth mount, and the other aliases', async () => {
    const r = await review(
      pod({
        [`${V}agent-inject`]: 'true',
        [`${V}auth-path`]: 'auth/k8s-prod',
        [`${V}namespace`]: 'team-a',
        [`${V}secret-volume-path`]: '/etc/secrets',
        [`${V}agent-inject-secret-x`]: 'kv/x',
      }),
    );
    assert.ok(r.allowed, r.message);
    const app = r.after.spec.containers[0];
    assert.equal(envOf(app, 'VAULT_PATH'), 'k8s-prod');
    assert.equal(envOf(app, 'VAULT_NAMESPACE'), 'team-a');
    assert.ok(app?.volumeMounts?.some((m) => m.mountPath === '/etc/secrets'));
  });

  it('warns of every annotation it does not act on, naming it', async () => {
    const r = await review(
      pod({
        [`${V}agent-inject`]: 'true',
        [`${V}agent-inject-secret-x`]: 'kv/x',
        [`${V}agent-inject-command-x`]: 'kill -HUP 1',
        [`${V}agent-limits-cpu`]: '500m',
        [`${V}agent-inject-file-orphan`]: 'o',
        [`${V}agent-inject-default-template`]: 'json',
      }),
    );
    assert.ok(r.allowed, r.message);
    const said = (name: string, what: RegExp) =>
      assert.ok(
        r.warnings.some((w) => w.includes(`${V}${name}`) && what.test(w)),
        `${name}: ${JSON.stringify(r.warnings)}`,
      );
    said('agent-inject-command-x', /no command runs/);
    said('agent-limits-cpu', /Vault Agent containers/);
    said('agent-inject-file-orphan', /there is no .*agent-inject-secret-orphan/);
    said('agent-inject-default-template', /only the default "map"/);
    assert.equal(r.warnings.length, 4);
  });

  it('leaves agent-inject-secret alone without agent-inject: "true", and says so', async () => {
    const r = await review(pod({ [`${V}agent-inject-secret-x`]: 'kv/x' }));
    assert.ok(r.allowed, r.message);
    assert.equal(r.after.spec.containers[0]?.command?.[0], '/app');
    assert.ok(
      r.warnings.some((w) => /agent-inject-secret-x ignored: .*agent-inject is not "true"/.test(w)),
    );
  });

  it('denies an unsupported template construct naming annotation and construct', async () => {
    const r = await review(
      pod({
        [`${V}agent-inject`]: 'true',
        [`${V}agent-inject-secret-x`]: 'kv/x',
        [`${V}agent-inject-template-x`]:
          '{{ with secret "kv/x" }}{{ .Data.k | sha256Hex }}{{ end }}',
      }),
    );
    assert.equal(r.allowed, false);
    assert.match(r.message, /agent-inject-template-x: .*"sha256Hex" is not supported/);
  });

  it('denies a file name that is not one segment, a bad mode, and a clash with ours', async () => {
    const r = await review(
      pod({
        [`${V}agent-inject`]: 'true',
        [`${V}agent-inject-secret-a`]: 'kv/a',
        [`${V}agent-inject-file-a`]: 'sub/a.txt',
        [`${V}agent-inject-secret-b`]: 'kv/b',
        [`${V}agent-inject-perms-b`]: 'rw-r',
        [`${V}agent-inject-secret-c`]: 'kv/c',
        'vault-inject.dev/secret-file-c': 'x',
      }),
    );
    assert.equal(r.allowed, false);
    assert.match(r.message, /agent-inject-file-a.*"sub\/a.txt"/);
    assert.match(r.message, /agent-inject-perms-b: "rw-r" is not an octal file mode/);
    assert.match(r.message, /secret-file-c and a vault.hashicorp.com annotation both write c/);
  });

  it('denies templates making more secret calls than a pod may hold references', async () => {
    // Six templates of 1,700 distinct calls each (a template holds at most 64 KiB).
    const an: Record<string, string> = { [`${V}agent-inject`]: 'true' };
    for (let f = 0; f < 6; f++) {
      an[`${V}agent-inject-secret-f${f}`] = 'k/x';
      an[`${V}agent-inject-template-f${f}`] = Array.from(
        { length: 1700 },
        (_, i) => `{{with secret "k/${f}-${i}"}}{{end}}`,
      ).join('');
    }
    const r = await review(pod(an));
    assert.equal(r.allowed, false);
    assert.match(
      r.message,
      /agent-inject-template-f5: the pod's templates make more than 10000 secret calls/,
    );
  });

  it('leaves a pod with agent-inject: "false" alone', async () => {
    const r = await review(
      pod({ [`${V}agent-inject`]: 'false', [`${V}agent-inject-secret-x`]: 'kv/x' }),
    );
    assert.ok(r.allowed);
    assert.equal(r.after.spec.containers[0]?.command?.[0], '/app');
  });
});

/**
 * vault-k8s' pod annotations: the constants of agent-inject/agent/annotations.go (hashicorp/
 * vault-k8s), with the per-secret ones as NAME = x, plus the later agent-inject-perms,
 * agent-inject-containers and agent-inject-default-template. Each must be honoured or warned.
 */
const VAULT_K8S_ANNOTATIONS: readonly (readonly [string, string])[] = [
  ['agent-inject', 'true'],
  ['agent-inject-status', 'injected'],
  ['agent-inject-secret-x', 'kv/x'],
  ['agent-inject-file-x', 'x.txt'],
  ['agent-inject-template-x', '{{ with secret "kv/x" }}{{ .Data.k }}{{ end }}'],
  ['agent-inject-perms-x', '0440'],
  ['agent-inject-token', 'true'],
  ['agent-inject-command-x', 'true'],
  ['agent-inject-containers', 'app'],
  ['agent-inject-default-template', 'json'],
  ['agent-image', 'hashicorp/vault:1.16'],
  ['agent-request-namespace', 'apps'],
  ['agent-init-first', 'true'],
  ['agent-pre-populate', 'false'],
  ['agent-pre-populate-only', 'false'],
  ['agent-configmap', 'cm'],
  ['agent-extra-secret', 's'],
  ['agent-limits-cpu', '1'],
  ['agent-limits-mem', '1Gi'],
  ['agent-requests-cpu', '1'],
  ['agent-requests-mem', '1Gi'],
  ['agent-revoke-on-shutdown', 'true'],
  ['agent-revoke-grace', '5'],
  ['namespace', 'team'],
  ['agent-run-as-user', '100'],
  ['agent-run-as-group', '1000'],
  ['agent-run-as-same-user', 'true'],
  ['agent-set-security-context', 'true'],
  ['service', 'https://vault.example:8200'],
  ['proxy-address', 'http://proxy:3128'],
  ['tls-skip-verify', 'true'],
  ['tls-secret', 's'],
  ['tls-server-name', 'vault'],
  ['ca-cert', '/vault/tls/ca.crt'],
  ['ca-key', '/vault/tls/ca.key'],
  ['client-cert', '/c'],
  ['client-key', '/k'],
  ['client-max-retries', '2'],
  ['client-timeout', '5s'],
  ['log-level', 'debug'],
  ['log-format', 'json'],
  ['role', 'app'],
  ['auth-type', 'kubernetes'],
  ['auth-path', 'auth/kubernetes'],
  ['auth-config-foo', 'bar'],
  ['secret-volume-path', '/vault/secrets'],
  ['preserve-secret-case', 'true'],
  ['agent-cache-enable', 'true'],
  ['agent-cache-use-auto-auth-token', 'force'],
  ['agent-cache-listener-port', '8200'],
  ['agent-cache-exit-on-err', 'true'],
  ['agent-copy-volume-mounts', 'app'],
  // Per-secret forms of later versions.
  ['agent-inject-template-file-x', '/etc/template.ctmpl'],
  ['secret-volume-path-x', '/etc/x'],
];

/** Read by the table as an alias, or acted on by vault-k8s.ts without a word. */
const HONOURED_HERE = new Set([
  'agent-inject',
  'agent-inject-secret-x',
  'agent-inject-file-x',
  'agent-inject-template-x',
  'agent-inject-perms-x',
  'agent-inject-containers',
  'namespace',
  'service',
  'role',
  'auth-type',
  'auth-path',
  'secret-volume-path',
  'tls-skip-verify',
  'preserve-secret-case',
  'agent-pre-populate-only',
]);

describe('every vault-k8s annotation has a fate', () => {
  const doc = readFileSync(
    new URL('../../../docs/migrating-from-vault-agent-injector.md', import.meta.url),
    'utf8',
  );
  for (const [name, value] of VAULT_K8S_ANNOTATIONS) {
    it(`${V}${name}: ${HONOURED_HERE.has(name) ? 'honoured' : 'warned'}, and documented`, () => {
      const an = {
        [`${V}agent-inject`]: 'true',
        [`${V}agent-inject-secret-x`]: 'kv/x',
        [`${V}${name}`]: value,
      };
      const warned = annotationWarnings(an).filter((w) => w.includes(`${V}${name}`));
      assert.equal(warned.length, HONOURED_HERE.has(name) ? 0 : 1, JSON.stringify(warned));
      const row = name.replace(/-x$/, '-NAME').replace(/-foo$/, '-*');
      if (!HONOURED_HERE.has(name)) assert.match(warned[0] ?? '', / ignored/);
      assert.ok(
        doc.includes(`\`V/${row}\``),
        `docs/migrating-from-vault-agent-injector.md lacks V/${row}`,
      );
    });
  }

  it('warns of a vault.hashicorp.com annotation it does not know', () => {
    const w = annotationWarnings({ [`${V}agent-telemetry-foo`]: 'x' });
    assert.equal(w.length, 1);
    assert.match(w[0] ?? '', /agent-telemetry-foo ignored/);
  });
});
