// A pod that already holds something under one of the webhook's names (volume `vault-inject`,
// init container `vault-inject-copy`, a mount at `/vault-inject`, the tls/token volumes) but not
// what the webhook would have put there. Reusing it silently gave a pod whose containers cannot
// start (no init program in a ConfigMap volume, a copy container that copies nothing) or one the
// API server rejects with a duplicate mountPath; such a pod is denied naming the clash. What the
// webhook itself wrote (a re-applied mutated pod, another delivery's volume) is reused as before.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fjp from 'fast-json-patch';
import { INIT_PROGRAM } from '../../../init-binary/src/contract/names.ts';
import type { Container, Pod, Volume } from '../../../webhook/src/mutation/types.ts';
import { decodePatch, harness, podReview, postReview } from './helpers.ts';

const COPY: Container = {
  name: 'vault-inject-copy',
  image: 'ghcr.io/vault-inject/vault-inject-init:0.1.0',
  command: [INIT_PROGRAM, '--copy-bundle', '/vault-inject-volume'],
  volumeMounts: [{ name: 'vault-inject', mountPath: '/vault-inject-volume' }],
};

function podWith(
  spec: { volumes?: Volume[]; initContainers?: Container[]; app?: Partial<Container> } = {},
  annotations: Record<string, string> = {},
): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'p', namespace: 'apps', annotations },
    spec: {
      containers: [
        {
          name: 'app',
          image: 'registry.example/app:1',
          command: ['/app'],
          env: [{ name: 'DB', value: 'vault:secret/data/app#db' }],
          ...spec.app,
        },
      ],
      ...(spec.initContainers ? { initContainers: spec.initContainers } : {}),
      ...(spec.volumes ? { volumes: spec.volumes } : {}),
    },
  };
}

async function review(pod: Pod, flags: Record<string, string> = {}) {
  const h = harness(flags);
  const res = await postReview(h, podReview(pod, { namespace: 'apps' }));
  assert.equal(res.statusCode, 200, res.body);
  const { response } = res.json();
  const ops = decodePatch(response.patch) as fjp.Operation[];
  const after = fjp.applyPatch(structuredClone(pod), ops, true, false).newDocument;
  const line = JSON.parse(h.logs.at(-1) ?? '{}') as { code?: string };
  return {
    allowed: response.allowed as boolean,
    message: response.status?.message as string | undefined,
    warnings: (response.warnings ?? []) as string[],
    code: line.code,
    after,
  };
}

const denied: { name: string; pod: Pod; flags?: Record<string, string>; message: string }[] = [
  {
    name: 'a volume vault-inject of another kind (a ConfigMap)',
    pod: podWith({ volumes: [{ name: 'vault-inject', configMap: { name: 'cfg' } }] }),
    message:
      'the pod already has a volume "vault-inject" that the webhook did not write (configMap); rename it',
  },
  {
    name: 'an init container vault-inject-copy that does not copy the bundle',
    pod: podWith({
      initContainers: [{ name: 'vault-inject-copy', image: 'busybox', command: ['true'] }],
    }),
    message:
      'the pod already has an init container "vault-inject-copy" that the webhook did not write; rename it',
  },
  {
    name: 'an emptyDir vault-inject with image delivery and no copy container to fill it',
    pod: podWith({ volumes: [{ name: 'vault-inject', emptyDir: {} }] }),
    flags: { delivery: 'image' },
    message:
      'the pod already has a volume "vault-inject" that the webhook did not write (emptyDir); rename it',
  },
  {
    name: 'the injected container mounts another volume at /vault-inject',
    pod: podWith({
      volumes: [{ name: 'data', emptyDir: {} }],
      app: { volumeMounts: [{ name: 'data', mountPath: '/vault-inject' }] },
    }),
    message:
      'container "app" already mounts volume "data" at /vault-inject, where the webhook mounts "vault-inject"; move it',
  },
  {
    name: 'the injected container mounts vault-inject elsewhere',
    pod: podWith({
      volumes: [{ name: 'vault-inject', emptyDir: {} }],
      app: { volumeMounts: [{ name: 'vault-inject', mountPath: '/opt/bundle' }] },
    }),
    message:
      'container "app" already mounts volume "vault-inject" at /opt/bundle, where the webhook mounts it at /vault-inject; rename or move it',
  },
  {
    name: 'a volume vault-inject-tls of another Secret than tls-secret names',
    pod: podWith(
      { volumes: [{ name: 'vault-inject-tls', secret: { secretName: 'other' } }] },
      { 'vault-inject.dev/tls-secret': 'vault-ca' },
    ),
    message:
      'the pod already has a volume "vault-inject-tls" that the webhook did not write (secret); rename it',
  },
  {
    name: 'a volume vault-inject-token that is no token of the token-audience',
    pod: podWith(
      { volumes: [{ name: 'vault-inject-token', emptyDir: {} }] },
      { 'vault-inject.dev/token-audience': 'vault' },
    ),
    message:
      'the pod already has a volume "vault-inject-token" that the webhook did not write (emptyDir); rename it',
  },
];

describe('a name of the webhook already taken by something else: denied, naming it', () => {
  for (const row of denied) {
    it(row.name, async () => {
      const r = await review(row.pod, row.flags);
      assert.equal(r.allowed, false, 'denied');
      assert.equal(r.message, row.message);
      assert.equal(r.code, 'E_NAME_CONFLICT');
    });
  }
});

describe('what the webhook itself wrote is reused', () => {
  const reused: { name: string; pod: Pod; flags?: Record<string, string> }[] = [
    {
      name: 'its emptyDir and copy container from a re-applied pod (no status annotation)',
      pod: podWith({ volumes: [{ name: 'vault-inject', emptyDir: {} }], initContainers: [COPY] }),
    },
    {
      name: 'its emptyDir and copy container under image delivery',
      pod: podWith({ volumes: [{ name: 'vault-inject', emptyDir: {} }], initContainers: [COPY] }),
      flags: { delivery: 'image' },
    },
    {
      name: 'its image volume under emptyDir delivery',
      pod: podWith({
        volumes: [
          {
            name: 'vault-inject',
            image: { reference: 'ghcr.io/vault-inject/vault-inject-init:0.1.0' },
          },
        ],
      }),
    },
    {
      name: 'an emptyDir vault-inject with emptyDir delivery (the copy container fills it)',
      pod: podWith({ volumes: [{ name: 'vault-inject', emptyDir: { medium: 'Memory' } }] }),
    },
    {
      name: 'the tls volume of the same Secret',
      pod: podWith(
        {
          volumes: [
            {
              name: 'vault-inject-tls',
              secret: { secretName: 'vault-ca', items: [{ key: 'ca.crt', path: 'ca.crt' }] },
            },
          ],
        },
        { 'vault-inject.dev/tls-secret': 'vault-ca' },
      ),
    },
    {
      name: 'the token volume of the same audience',
      pod: podWith(
        {
          volumes: [
            {
              name: 'vault-inject-token',
              projected: {
                sources: [
                  {
                    serviceAccountToken: {
                      audience: 'vault',
                      expirationSeconds: 3600,
                      path: 'token',
                    },
                  },
                ],
              },
            },
          ],
        },
        { 'vault-inject.dev/token-audience': 'vault' },
      ),
    },
  ];
  for (const row of reused) {
    it(row.name, async () => {
      const r = await review(row.pod, row.flags);
      assert.equal(r.allowed, true, r.message);
      const app = r.after.spec.containers[0];
      assert.deepEqual(app?.command, [INIT_PROGRAM]);
      assert.equal(
        r.after.spec.volumes?.filter((v) => v.name === 'vault-inject').length,
        1,
        'one bundle volume',
      );
    });
  }
});

// The bundle's layout differs by delivery: the copy container fills an emptyDir at its root, an
// image volume holds the whole init image, the bundle under vault-inject/. So the volume, the
// copy container and the bundle mount of every container must agree, whatever the webhook's own
// --delivery: a copy container writing into a read-only image volume, or a mount with the wrong
// subPath, gives a pod that never starts. The delivery the pod already has (its bundle volume,
// else the bundle mounts of containers already running the init program) wins over the flag.
const IMAGE_VOLUME: Volume = {
  name: 'vault-inject',
  image: { reference: 'ghcr.io/vault-inject/vault-inject-init:0.1.0' },
};
const OTHER_INIT: Container = { name: 'migrate', image: 'registry.example/migrate:1' };

interface Shape {
  volume: 'image' | 'emptyDir';
  copy: boolean;
  subPath: string | undefined;
}

function shape(pod: Pod): Shape {
  const volume = pod.spec.volumes?.filter((v) => v.name === 'vault-inject') ?? [];
  assert.equal(volume.length, 1, 'one bundle volume');
  const app = pod.spec.containers.find((c) => c.name === 'app');
  assert.deepEqual(app?.command, [INIT_PROGRAM]);
  const mount = app?.volumeMounts?.find((m) => m.name === 'vault-inject');
  assert.equal(mount?.mountPath, '/vault-inject');
  return {
    volume: volume[0]?.image !== undefined ? 'image' : 'emptyDir',
    copy: (pod.spec.initContainers ?? []).some((c) => c.name === 'vault-inject-copy'),
    subPath: mount?.subPath,
  };
}

const IMAGE: Shape = { volume: 'image', copy: false, subPath: 'vault-inject' };
const EMPTYDIR: Shape = { volume: 'emptyDir', copy: true, subPath: undefined };

// A container already injected beside the app, its bundle mount as one delivery wrote it.
function withSidecar(pod: Pod, subPath?: string): Pod {
  const mount = { name: 'vault-inject', mountPath: '/vault-inject', readOnly: true };
  const sidecar: Container = {
    name: 'sidecar',
    image: 'registry.example/sidecar:1',
    command: [INIT_PROGRAM],
    args: ['/sidecar'],
    volumeMounts: [subPath ? { ...mount, subPath } : mount],
  };
  return { ...pod, spec: { ...pod.spec, containers: [...pod.spec.containers, sidecar] } };
}

describe("the pod's own delivery wins over --delivery; volume, copy and mounts agree", () => {
  const rows: { name: string; pod: Pod; flags?: Record<string, string>; want: Shape }[] = [
    {
      name: 'image delivery, a leftover copy container and no volume: the copy container removed',
      pod: podWith({ initContainers: [COPY] }),
      flags: { delivery: 'image' },
      want: IMAGE,
    },
    {
      name: 'image delivery, a leftover copy container in front of another: only it removed',
      pod: podWith({ initContainers: [COPY, OTHER_INIT] }),
      flags: { delivery: 'image' },
      want: IMAGE,
    },
    {
      name: 'image delivery, its emptyDir and copy container: mounted without subPath',
      pod: podWith({ volumes: [{ name: 'vault-inject', emptyDir: {} }], initContainers: [COPY] }),
      flags: { delivery: 'image' },
      want: EMPTYDIR,
    },
    {
      name: 'image delivery, no volume, a container injected under emptyDir and its copy container',
      pod: withSidecar(podWith({ initContainers: [COPY] })),
      flags: { delivery: 'image' },
      want: EMPTYDIR,
    },
    {
      name: 'emptyDir delivery, its image volume: no copy container, mounted with subPath',
      pod: podWith({ volumes: [IMAGE_VOLUME] }),
      want: IMAGE,
    },
    {
      name: 'emptyDir delivery, its image volume and a copy container: the copy container removed',
      pod: podWith({ volumes: [IMAGE_VOLUME], initContainers: [OTHER_INIT, COPY] }),
      want: IMAGE,
    },
    {
      name: 'emptyDir delivery, no volume, a container injected under image delivery',
      pod: withSidecar(podWith({}), 'vault-inject'),
      want: IMAGE,
    },
  ];
  for (const row of rows) {
    it(row.name, async () => {
      const r = await review(row.pod, row.flags);
      assert.equal(r.allowed, true, r.message);
      assert.deepEqual(shape(r.after), row.want);
      // A sidecar running the init program without a volume is repaired (and said so).
      const repaired = row.pod.spec.containers.some((c) => c.name === 'sidecar')
        ? [
            'container "sidecar" already runs the init program but lacked its bundle volume or mount (a copied manifest?): added',
          ]
        : [];
      assert.deepEqual(r.warnings, repaired);
      // An init container of the user's is kept, in its order; the copy container runs first.
      const others = (row.pod.spec.initContainers ?? []).filter((c) => c !== COPY);
      assert.deepEqual(
        (r.after.spec.initContainers ?? []).filter((c) => c.name !== 'vault-inject-copy'),
        others,
      );
      if (row.want.copy) assert.equal(r.after.spec.initContainers?.[0]?.name, 'vault-inject-copy');
      // Re-applying the result changes nothing.
      const again = await review(r.after, row.flags);
      assert.equal(again.allowed, true, again.message);
      assert.deepEqual(again.after, r.after);
    });
  }
});

// `vault-inject.dev/delivery` overrides --delivery for one pod; a pod that already has a delivery
// keeps it (the volume, copy container and mounts must agree), and says the annotation was not
// followed.
describe('the delivery annotation', () => {
  const DELIVERY = 'vault-inject.dev/delivery';
  const rows: { name: string; pod: Pod; flags?: Record<string, string>; want: Shape }[] = [
    {
      name: 'image under --delivery=emptydir',
      pod: podWith({}, { [DELIVERY]: 'image' }),
      want: IMAGE,
    },
    {
      name: 'emptyDir under --delivery=image',
      pod: podWith({}, { [DELIVERY]: 'emptyDir' }),
      flags: { delivery: 'image' },
      want: EMPTYDIR,
    },
    {
      name: 'any case, trimmed',
      pod: podWith({}, { [DELIVERY]: ' EmptyDir ' }),
      flags: { delivery: 'image' },
      want: EMPTYDIR,
    },
  ];
  for (const row of rows) {
    it(row.name, async () => {
      const r = await review(row.pod, row.flags);
      assert.equal(r.allowed, true, r.message);
      assert.deepEqual(shape(r.after), row.want);
      assert.deepEqual(r.warnings, []);
      const again = await review(r.after, row.flags);
      assert.deepEqual(again.after, r.after, 're-applying changes nothing');
      assert.deepEqual(again.warnings, []);
    });
  }

  it("the pod's own delivery wins over the annotation, with a warning", async () => {
    const pod = podWith(
      { volumes: [{ name: 'vault-inject', emptyDir: {} }], initContainers: [COPY] },
      { [DELIVERY]: 'image' },
    );
    const r = await review(pod);
    assert.equal(r.allowed, true, r.message);
    assert.deepEqual(shape(r.after), EMPTYDIR);
    assert.deepEqual(r.warnings, [
      'annotation vault-inject.dev/delivery ignored: the pod already has emptyDir delivery (its vault-inject volume or bundle mounts), which it keeps',
    ]);
  });

  it('an invalid value denies the pod naming the annotation', async () => {
    const r = await review(podWith({}, { [DELIVERY]: 'ftp' }));
    assert.equal(r.allowed, false);
    assert.equal(r.code, 'E_ANNOTATION');
    assert.equal(r.message, 'annotation vault-inject.dev/delivery: "ftp" is not image or emptyDir');
  });
});
