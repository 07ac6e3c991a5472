// Secret files at admission (docs/configuration.md#secret-files): which containers receive them,
// each on its own memory volume, the templates passed to the init program (never a value), and
// the denials naming the annotation.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fjp from 'fast-json-patch';
import { INIT_PROGRAM } from '../../../init-binary/src/contract/names.ts';
import { decodeSecretFiles } from '../../../init-binary/src/contract/secret-files.ts';
import type { Container, Pod } from '../../../webhook/src/mutation/types.ts';
import { decodePatch, harness, podReview, postReview } from './helpers.ts';

const F = 'vault-inject.dev/secret-file-';

function pod(
  annotations: Record<string, string>,
  containers: Partial<Container>[] = [{ name: 'app' }],
  extra: Partial<Pod['spec']> = {},
): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'p', namespace: 'apps', annotations },
    spec: {
      containers: containers.map((c) => ({
        image: 'registry.example/app:1',
        command: ['/app'],
        ...c,
        name: c.name ?? 'app',
      })),
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
    patch: JSON.stringify(ops),
    after,
  };
}

const filesEnv = (c: Container | undefined) =>
  c?.env?.find((e) => e.name === 'VAULT_INJECT_SECRET_FILES')?.value;

describe('secret files at admission', () => {
  it('injects a pod with only file annotations: own memory volume, mount, templates', async () => {
    const template = 'user=${vault:secret/data/app#user}\npass=${vault:secret/data/app#pass}\n';
    const r = await review(pod({ [`${F}app.env`]: template, [`${F}tls.key`]: 'vault:pki#key' }));
    assert.ok(r.allowed, r.message);
    const app = r.after.spec.containers[0];
    assert.equal(app?.command?.[0], INIT_PROGRAM);
    assert.deepEqual(
      r.after.spec.volumes?.find((v) => v.name === 'vault-inject-files-0'),
      { name: 'vault-inject-files-0', emptyDir: { medium: 'Memory', sizeLimit: '1Mi' } },
    );
    assert.ok(
      app?.volumeMounts?.some(
        (m) => m.name === 'vault-inject-files-0' && m.mountPath === '/vault/secrets' && !m.readOnly,
      ),
    );
    const spec = decodeSecretFiles(filesEnv(app) ?? '');
    assert.deepEqual(spec, {
      dir: '/vault/secrets',
      mode: 0o400,
      files: { 'app.env': template, 'tls.key': 'vault:pki#key' },
    });
  });

  it('gives each app container its own volume; init containers only when asked', async () => {
    const containers = [{ name: 'a' }, { name: 'b' }];
    const init = [{ name: 'migrate', image: 'm', command: ['/m'] }];
    const r = await review(pod({ [`${F}x`]: 'vault:s/a#k' }, containers, { initContainers: init }));
    assert.ok(r.allowed, r.message);
    const mountsOf = (c: Container | undefined) =>
      (c?.volumeMounts ?? []).filter((m) => m.mountPath === '/vault/secrets').map((m) => m.name);
    assert.deepEqual(mountsOf(r.after.spec.containers[0]), ['vault-inject-files-0']);
    assert.deepEqual(mountsOf(r.after.spec.containers[1]), ['vault-inject-files-1']);
    const migrate = r.after.spec.initContainers?.find((c) => c.name === 'migrate');
    assert.deepEqual(mountsOf(migrate), []);
    assert.equal(migrate?.command?.[0], '/m', 'an init container without references is left alone');

    const asked = await review(
      pod(
        { [`${F}x`]: 'vault:s/a#k', 'vault-inject.dev/secret-files-init-containers': 'true' },
        containers,
        { initContainers: init },
      ),
    );
    const m = asked.after.spec.initContainers?.find((c) => c.name === 'migrate');
    assert.deepEqual(mountsOf(m), ['vault-inject-files-init-0']);
    assert.equal(m?.command?.[0], INIT_PROGRAM);
  });

  it('only the containers named by vault-inject.dev/containers, in the secrets-dir asked', async () => {
    const r = await review(
      pod(
        {
          [`${F}x`]: 'vault:s/a#k',
          'vault-inject.dev/containers': 'b',
          'vault-inject.dev/secrets-dir': '/etc/app/secrets/',
        },
        [{ name: 'a' }, { name: 'b' }],
        { securityContext: { fsGroup: 2000 } },
      ),
    );
    assert.ok(r.allowed, r.message);
    const [a, b] = r.after.spec.containers;
    assert.equal(a?.command?.[0], '/app');
    assert.equal(filesEnv(a), undefined);
    assert.ok(b?.volumeMounts?.some((m) => m.mountPath === '/etc/app/secrets'));
    const spec = decodeSecretFiles(filesEnv(b) ?? '');
    assert.equal(spec.dir, '/etc/app/secrets');
    assert.equal(spec.mode, 0o440, 'an fsGroup lets the group read');
  });

  it('keeps the patch free of anything but the templates, and reinvocation changes nothing', async () => {
    const r = await review(pod({ [`${F}x`]: 'a ${vault:s/a#k} b' }));
    assert.ok(r.allowed);
    assert.ok(r.patch.includes('${vault:s/a#k}'));
    const again = await review(r.after);
    assert.ok(again.allowed);
    assert.equal(again.patch, '[]');
  });

  const denials: [string, Record<string, string>, Partial<Pod['spec']>, RegExp][] = [
    [
      'a malformed template',
      { [`${F}db.conf`]: 'x=${vault:secret/db}' },
      {},
      /annotation vault-inject\.dev\/secret-file-db\.conf: .*missing "#KEY"/,
    ],
    [
      'vault:login in a file',
      { [`${F}token`]: 'vault:login' },
      {},
      /annotation vault-inject\.dev\/secret-file-token: "vault:login" cannot be rendered into a file/,
    ],
    [
      'an unsafe file name',
      { [`${F}a b`]: 'vault:s/a#k' },
      {},
      /annotation "vault-inject\.dev\/secret-file-a b": the file name "a b" may hold only/,
    ],
    [
      '".." as a file name',
      { [`${F}..`]: 'vault:s/a#k' },
      {},
      /the file name "\.\." is "\." or "\.\."/,
    ],
    [
      'a relative secrets-dir',
      { [`${F}x`]: 'vault:s/a#k', 'vault-inject.dev/secrets-dir': 'secrets' },
      {},
      /annotation vault-inject\.dev\/secrets-dir: "secrets" is not an absolute path/,
    ],
    [
      'a secrets-dir with ..',
      { [`${F}x`]: 'vault:s/a#k', 'vault-inject.dev/secrets-dir': '/vault/../etc' },
      {},
      /has a "\." or "\.\." segment/,
    ],
    [
      'a secrets-dir inside the bundle mount',
      { [`${F}x`]: 'vault:s/a#k', 'vault-inject.dev/secrets-dir': '/vault-inject/secrets' },
      {},
      /secrets-dir: "\/vault-inject\/secrets" is the webhook's own mount \/vault-inject$/,
    ],
    [
      'a volume under the webhook name',
      { [`${F}x`]: 'vault:s/a#k' },
      { volumes: [{ name: 'vault-inject-files-0', configMap: { name: 'c' } }] },
      /a volume "vault-inject-files-0" that the webhook did not write/,
    ],
  ];
  for (const [what, annotations, extra, message] of denials) {
    it(`denies ${what}, naming the annotation`, async () => {
      const r = await review(pod(annotations, [{ name: 'app' }], extra));
      assert.equal(r.allowed, false);
      assert.match(r.message, message);
    });
  }

  it('denies a container already mounting something at the secrets directory', async () => {
    const r = await review(
      pod({ [`${F}x`]: 'vault:s/a#k' }, [
        { name: 'app', volumeMounts: [{ name: 'mine', mountPath: '/vault/secrets/' }] },
      ]),
    );
    assert.equal(r.allowed, false);
    assert.match(r.message, /container "app" already mounts volume "mine" at \/vault\/secrets/);
  });

  it('warns about secrets-dir without any secret file', async () => {
    const p = pod({ 'vault-inject.dev/secrets-dir': '/etc/s' }, [
      { name: 'app', env: [{ name: 'A', value: 'vault:s/a#k' }] },
    ]);
    const r = await review(p);
    assert.ok(r.allowed, r.message);
    assert.ok(
      r.warnings.includes(
        'annotation vault-inject.dev/secrets-dir ignored: the pod has no vault-inject.dev/secret-file-NAME',
      ),
      r.warnings.join(),
    );
    assert.equal(
      r.after.spec.volumes?.some((v) => v.name.startsWith('vault-inject-files')),
      false,
    );
  });

  it('warns when no container receives the files', async () => {
    const r = await review(
      pod({ [`${F}x`]: 'vault:s/a#k', 'vault-inject.dev/containers': 'nope' }),
    );
    assert.ok(r.allowed);
    assert.ok(
      r.warnings.some((w) => /no container receives the secret files/.test(w)),
      r.warnings.join(),
    );
  });
});
