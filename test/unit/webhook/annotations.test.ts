// Every annotation (docs/configuration.md#annotations) as a user writes it: under our name, under its Bank-Vaults
// name, and both at once (ours wins); `skip-verify` only when the webhook allows it; the
// `containers` list; the `token-audience` token mounted only where the init program runs.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fjp from 'fast-json-patch';
import { INIT_PROGRAM, TOKEN_VOLUME_NAME } from '../../../init-binary/src/contract/names.ts';
import * as A from '../../../webhook/src/mutation/annotations.ts';
import type { Container, Pod } from '../../../webhook/src/mutation/types.ts';
import { appPod, decodePatch, harness, podReview, postReview } from './helpers.ts';

const FLAGS = {
  'vault-addr': 'https://vault.vault:8200',
  'allowed-vault-addrs':
    'https://vault.vault:8200,https://ours.example:8200,https://theirs.example:8200',
  'allow-skip-verify': 'true',
};

const podWith = (annotations: Record<string, string>, spec?: Partial<Pod['spec']>): Pod =>
  appPod(annotations, { spec });

interface Reviewed {
  allowed: boolean;
  warnings: string[];
  message?: string;
  /** The pod with the patch applied. */
  after: Pod;
}

async function review(pod: Pod, flags: Record<string, string> = FLAGS): Promise<Reviewed> {
  const res = await postReview(harness(flags), podReview(pod, { namespace: 'apps' }));
  assert.equal(res.statusCode, 200, res.body);
  const { response } = res.json();
  const ops = decodePatch(response.patch) as fjp.Operation[];
  const after = fjp.applyPatch(structuredClone(pod), ops, true, false).newDocument;
  return {
    allowed: response.allowed,
    warnings: response.warnings ?? [],
    message: response.status?.message,
    after,
  };
}

function container(pod: Pod, name: string): Container {
  const all = [...(pod.spec.initContainers ?? []), ...pod.spec.containers];
  const c = all.find((x) => x.name === name);
  assert.ok(c, `no container ${name}`);
  return c;
}

const envOf = (pod: Pod, name: string, c = 'app'): string | undefined =>
  container(pod, c).env?.find((e) => e.name === name)?.value;

const injected = (c: Container): boolean => c.command?.[0] === INIT_PROGRAM;

interface Row {
  annotation: A.Annotation;
  /** Values written under our name and under the Bank-Vaults name. */
  ours: string;
  theirs: string;
  /** What the mutated pod shows of the setting. */
  seen: (pod: Pod) => string | undefined;
  /** `seen` for each of the two values. */
  expect: { ours: string | undefined; theirs: string | undefined };
  /** What else the pod needs for the setting to show (another annotation, a volume, a probe). */
  with?: { annotations?: Record<string, string>; spec?: Partial<Pod['spec']> };
}

const env = (name: string) => (pod: Pod) => envOf(pod, name);
const same = (ours: string, theirs: string) => ({ ours, theirs });

const ROWS: Row[] = [
  {
    annotation: A.VAULT_ADDR,
    ours: 'https://ours.example:8200',
    theirs: 'https://theirs.example:8200',
    seen: env('VAULT_ADDR'),
    expect: same('https://ours.example:8200', 'https://theirs.example:8200'),
  },
  {
    annotation: A.ROLE,
    ours: 'r1',
    theirs: 'r2',
    seen: env('VAULT_ROLE'),
    expect: same('r1', 'r2'),
  },
  {
    annotation: A.AUTH_PATH,
    ours: 'k8s-a',
    theirs: 'k8s-b',
    seen: env('VAULT_PATH'),
    expect: same('k8s-a', 'k8s-b'),
  },
  {
    annotation: A.AUTH_METHOD,
    ours: 'approle',
    theirs: 'jwt',
    seen: env('VAULT_AUTH_METHOD'),
    expect: same('approle', 'jwt'),
  },
  {
    annotation: A.NAMESPACE,
    ours: 'team-a',
    theirs: 'team-b',
    seen: env('VAULT_NAMESPACE'),
    expect: same('team-a', 'team-b'),
  },
  {
    annotation: A.SKIP_VERIFY,
    ours: 'false',
    theirs: 'true',
    seen: env('VAULT_SKIP_VERIFY'),
    expect: { ours: undefined, theirs: 'true' },
  },
  {
    annotation: A.TLS_SECRET,
    ours: 'ca-ours',
    theirs: 'ca-theirs',
    seen: (pod) => {
      const v = pod.spec.volumes?.find((x) => x.name === 'vault-inject-tls') as
        { secret: { secretName: string } } | undefined;
      return v && `${v.secret.secretName} ${envOf(pod, 'VAULT_CACERT') ?? ''}`;
    },
    expect: same('ca-ours /vault-inject-tls/ca.crt', 'ca-theirs /vault-inject-tls/ca.crt'),
  },
  {
    annotation: A.CLIENT_TIMEOUT,
    ours: '20s',
    theirs: '1m30s',
    seen: env('VAULT_CLIENT_TIMEOUT'),
    expect: same('20s', '1m30s'),
  },
  {
    annotation: A.IGNORE_MISSING,
    ours: 'false',
    theirs: 'true',
    seen: env('VAULT_IGNORE_MISSING_SECRETS'),
    expect: { ours: undefined, theirs: 'true' },
  },
  {
    annotation: A.ENV_PASSTHROUGH,
    ours: 'VAULT_ADDR',
    theirs: 'VAULT_ROLE,VAULT_PATH',
    seen: env('VAULT_ENV_PASSTHROUGH'),
    expect: same('VAULT_ADDR', 'VAULT_ROLE,VAULT_PATH'),
  },
  {
    annotation: A.DAEMON,
    ours: 'false',
    theirs: 'true',
    seen: env('VAULT_ENV_DAEMON'),
    expect: { ours: undefined, theirs: 'true' },
  },
  {
    annotation: A.FROM_PATH,
    ours: 'secret/data/a',
    theirs: 'secret/data/b,secret/data/c',
    seen: env('VAULT_ENV_FROM_PATH'),
    expect: same('secret/data/a', 'secret/data/b,secret/data/c'),
  },
  {
    annotation: A.TRANSIT_KEY,
    ours: 'k1',
    theirs: 'k2',
    seen: env('VAULT_TRANSIT_KEY_ID'),
    expect: same('k1', 'k2'),
  },
  {
    annotation: A.TRANSIT_PATH,
    ours: 'transit-a',
    theirs: 'transit-b',
    seen: env('VAULT_TRANSIT_PATH'),
    expect: same('transit-a', 'transit-b'),
  },
  {
    annotation: A.DELAY,
    ours: '5s',
    theirs: '1m',
    seen: env('VAULT_ENV_DELAY'),
    expect: same('5s', '1m'),
  },
  {
    annotation: A.LOG_LEVEL,
    ours: 'debug',
    theirs: 'WARN',
    seen: env('VAULT_LOG_LEVEL'),
    expect: same('debug', 'warn'),
  },
  {
    annotation: A.JSON_LOG,
    ours: 'false',
    theirs: 'true',
    seen: env('VAULT_JSON_LOG'),
    expect: same('false', 'true'),
  },
  {
    annotation: A.TRANSIT_BATCH_SIZE,
    ours: '10',
    theirs: '25',
    seen: env('VAULT_TRANSIT_BATCH_SIZE'),
    expect: same('10', '25'),
  },
  {
    annotation: A.TOKEN_AUTH_MOUNT,
    ours: 'tok-a:token',
    theirs: 'tok-b:vault-token',
    seen: (pod) => {
      const m = container(pod, 'app').volumeMounts?.find(
        (v) => v.mountPath === '/vault-inject-token-auth',
      );
      return `${m?.name} ${envOf(pod, 'VAULT_TOKEN_FILE')} ${envOf(pod, 'VAULT_AUTH_METHOD')}`;
    },
    expect: same(
      'tok-a /vault-inject-token-auth/token token',
      'tok-b /vault-inject-token-auth/vault-token token',
    ),
    with: {
      spec: {
        volumes: [
          { name: 'tok-a', secret: { secretName: 'a' } },
          { name: 'tok-b', secret: { secretName: 'b' } },
        ],
      },
    },
  },
  {
    annotation: A.MUTATE_PROBES,
    ours: 'false',
    theirs: 'true',
    seen: (pod) => {
      const probe = container(pod, 'app')['livenessProbe'] as { exec: { command: string[] } };
      return probe.exec.command.join(' ');
    },
    expect: { ours: '/healthy', theirs: `${INIT_PROGRAM} /healthy` },
    with: {
      spec: {
        containers: [
          {
            name: 'app',
            image: 'registry.example/app:1',
            command: ['/app'],
            env: [{ name: 'DB', value: 'vault:secret/data/app#db' }],
            livenessProbe: { exec: { command: ['/healthy'] } },
          },
        ],
      },
    },
  },
  {
    annotation: A.RUN_AS_USER,
    ours: '1000',
    theirs: '2000',
    seen: (pod) => String(container(pod, 'vault-inject-copy').securityContext?.runAsUser),
    expect: same('1000', '2000'),
  },
  {
    annotation: A.RUN_AS_GROUP,
    ours: '3000',
    theirs: '4000',
    seen: (pod) => String(container(pod, 'vault-inject-copy').securityContext?.runAsGroup),
    expect: same('3000', '4000'),
  },
  {
    annotation: A.SERVICE_ACCOUNT,
    ours: 'sa-a',
    theirs: 'sa-b',
    seen: env('VAULT_ROLE'),
    expect: same('apps-sa-a', 'apps-sa-b'),
    with: { annotations: { [A.ROLE.key]: '{{.namespace}}-{{.serviceaccount}}' } },
  },
];

describe('annotations: ours, the Bank-Vaults alias, and both (ours wins)', () => {
  it('the table covers every annotation that has a Bank-Vaults alias', () => {
    const withAlias = Object.values(A)
      .filter((v): v is A.Annotation => typeof v === 'object' && v !== null && 'alias' in v)
      // Its image lookups show it, not the pod: bank-vaults-annotations.test.ts.
      .filter((a) => a !== A.REGISTRY_SKIP_VERIFY)
      .map((a) => a.key)
      .sort();
    assert.deepEqual(ROWS.map((r) => r.annotation.key).sort(), withAlias);
  });

  for (const row of ROWS) {
    const { key, alias } = row.annotation;
    assert.ok(alias);
    it(`${key} / ${alias}`, async () => {
      const pod = (an: Record<string, string>): Pod =>
        podWith({ ...row.with?.annotations, ...an }, row.with?.spec);
      const alone = await review(pod({ [alias]: row.theirs }));
      assert.equal(alone.allowed, true, alone.message);
      assert.equal(row.seen(alone.after), row.expect.theirs, 'the Bank-Vaults name alone');

      const ours = await review(pod({ [key]: row.ours }));
      assert.equal(row.seen(ours.after), row.expect.ours, 'our name alone');

      const both = await review(pod({ [alias]: row.theirs, [key]: row.ours }));
      assert.equal(both.allowed, true, both.message);
      assert.equal(row.seen(both.after), row.expect.ours, 'both set: ours wins');
    });
  }

  it('inject / mutate: skip: the alias opts out, ours wins when both are set', async () => {
    const skip = await review(podWith({ [A.BANK_VAULTS_MUTATE]: 'skip' }));
    assert.equal(injected(container(skip.after, 'app')), false);
    const both = await review(podWith({ [A.BANK_VAULTS_MUTATE]: 'skip', [A.INJECT.key]: 'true' }));
    assert.equal(injected(container(both.after, 'app')), true);
    const off = await review(podWith({ [A.INJECT.key]: 'false' }));
    assert.equal(injected(container(off.after, 'app')), false);
  });

  it('a disallowed vault-addr under the Bank-Vaults name is denied naming that annotation', async () => {
    const r = await review(podWith({ [A.VAULT_ADDR.alias ?? '']: 'https://evil.example:8200' }));
    assert.equal(r.allowed, false);
    assert.match(
      r.message ?? '',
      /^annotation vault\.security\.banzaicloud\.io\/vault-addr: "https:\/\/evil\.example:8200" is not an allowed Vault address/,
    );
  });

  it("vault-addr: the webhook's own address is allowed whatever the allowlist holds", async () => {
    const flags = { 'allowed-vault-addrs': 'https://other.example:8200' };
    const own = await review(podWith({ [A.VAULT_ADDR.key]: 'https://vault.vault:8200/' }), flags);
    assert.equal(own.allowed, true, own.message);
    assert.equal(envOf(own.after, 'VAULT_ADDR'), 'https://vault.vault:8200');
    const listed = await review(
      podWith({ [A.VAULT_ADDR.key]: 'https://other.example:8200' }),
      flags,
    );
    assert.equal(envOf(listed.after, 'VAULT_ADDR'), 'https://other.example:8200');
    const other = await review(podWith({ [A.VAULT_ADDR.key]: 'http://other.example:8200' }), flags);
    assert.equal(other.allowed, false);
    assert.equal(
      other.message,
      'annotation vault-inject.dev/vault-addr: "http://other.example:8200" is not an allowed Vault address (allowed: https://vault.vault:8200, https://other.example:8200)',
    );
  });

  // Bank-Vaults reads its boolean annotations with Go's strconv.ParseBool: 1/t/true and 0/f/false
  // in any of Go's spellings. A manifest written for it must mean the same here.
  const TRUE = ['true', 'True', 'TRUE', 't', 'T', '1', ' true '];
  const FALSE = ['false', 'False', 'FALSE', 'f', 'F', '0', ''];
  it("boolean annotations: Go's strconv.ParseBool spellings, as Bank-Vaults reads them", async () => {
    for (const v of TRUE) {
      const r = await review(podWith({ [A.DAEMON.alias ?? '']: v }));
      assert.equal(r.allowed, true, `${JSON.stringify(v)}: ${r.message}`);
      assert.equal(envOf(r.after, 'VAULT_ENV_DAEMON'), 'true', JSON.stringify(v));
      const skip = await review(podWith({ [A.SKIP_VERIFY.alias ?? '']: v }));
      assert.equal(envOf(skip.after, 'VAULT_SKIP_VERIFY'), 'true', JSON.stringify(v));
    }
    for (const v of FALSE) {
      const r = await review(podWith({ [A.IGNORE_MISSING.alias ?? '']: v }));
      assert.equal(r.allowed, true, `${JSON.stringify(v)}: ${r.message}`);
      assert.equal(envOf(r.after, 'VAULT_IGNORE_MISSING_SECRETS'), undefined, JSON.stringify(v));
      assert.equal(injected(container(r.after, 'app')), true, JSON.stringify(v));
    }
  });

  it('inject: every false spelling opts out, every true spelling injects without a reference', async () => {
    const noRef = {
      containers: [{ name: 'app', image: 'registry.example/app:1', command: ['/app'] }],
    };
    for (const v of FALSE.filter((f) => f !== '')) {
      const r = await review(podWith({ [A.INJECT.key]: v }));
      assert.equal(r.allowed, true, r.message);
      assert.equal(injected(container(r.after, 'app')), false, `inject: ${JSON.stringify(v)}`);
    }
    for (const v of TRUE) {
      const r = await review(podWith({ [A.INJECT.key]: v }, noRef));
      assert.equal(r.allowed, true, r.message);
      assert.equal(injected(container(r.after, 'app')), true, `inject: ${JSON.stringify(v)}`);
    }
  });

  it('inject: a value that is no boolean is denied naming the annotation', async () => {
    const r = await review(podWith({ [A.INJECT.key]: 'nope' }));
    assert.equal(r.allowed, false);
    assert.equal(r.message, 'annotation vault-inject.dev/inject: "nope" is not true or false');
  });

  // The webhook must accept exactly what the init program reads (Go durations, decimals too, as
  // Bank-Vaults' time.ParseDuration does), or it denies pods that would run, or admits pods whose
  // init program then exits 78.
  it('client-timeout: what the init program reads is accepted and passed on as written', async () => {
    for (const v of ['10s', '500ms', '1m30s', '1.5s', '0.5m', '2h', '1m500ms', '30']) {
      const r = await review(podWith({ [A.CLIENT_TIMEOUT.alias ?? '']: v }));
      assert.equal(r.allowed, true, `${v}: ${r.message}`);
      assert.equal(envOf(r.after, 'VAULT_CLIENT_TIMEOUT'), v);
    }
    for (const v of ['0s', '-1s', '10x', '1d', 's', '1 s']) {
      const r = await review(podWith({ [A.CLIENT_TIMEOUT.key]: v }));
      assert.equal(r.allowed, false, v);
      assert.match(
        r.message ?? '',
        /^annotation vault-inject\.dev\/client-timeout: ".*" is not a positive duration/,
      );
    }
  });

  it('a boolean that is neither true nor false is denied naming the annotation', async () => {
    const r = await review(podWith({ [A.DAEMON.alias ?? '']: 'yes' }));
    assert.equal(r.allowed, false);
    assert.equal(
      r.message,
      'annotation vault.security.banzaicloud.io/vault-env-daemon: "yes" is not true or false',
    );
  });
});

describe('skip-verify is honoured only when the webhook allows it', () => {
  for (const key of [A.SKIP_VERIFY.key, A.SKIP_VERIFY.alias ?? '']) {
    it(`${key}: set with --allow-skip-verify, ignored with a warning without`, async () => {
      const allowed = await review(podWith({ [key]: 'true' }));
      assert.equal(envOf(allowed.after, 'VAULT_SKIP_VERIFY'), 'true');
      assert.deepEqual(allowed.warnings, []);

      const refused = await review(podWith({ [key]: 'true' }), {
        ...FLAGS,
        'allow-skip-verify': 'false',
      });
      assert.equal(refused.allowed, true);
      assert.equal(envOf(refused.after, 'VAULT_SKIP_VERIFY'), undefined);
      assert.equal(injected(container(refused.after, 'app')), true);
      assert.deepEqual(refused.warnings, [
        `${key} ignored: this webhook does not allow skipping TLS verification`,
      ]);
    });
  }
});

describe('containers: the list of containers to inject', () => {
  const spec = (): Partial<Pod['spec']> => ({
    initContainers: [
      {
        name: 'migrate',
        image: 'm',
        command: ['/migrate'],
        env: [{ name: 'DB', value: 'vault:secret/data/db#url' }],
      },
    ],
    containers: [
      { name: 'a', image: 'a', command: ['/a'], env: [{ name: 'X', value: 'vault:s/a#x' }] },
      { name: 'b', image: 'b', command: ['/b'], env: [{ name: 'Y', value: 'vault:s/b#y' }] },
      { name: 'c', image: 'c', command: ['/c'] },
    ],
  });
  const state = (pod: Pod) =>
    ['migrate', 'a', 'b', 'c'].map((n) => `${n}:${injected(container(pod, n)) ? 'yes' : 'no'}`);

  it('default: every container with a reference, init containers included', async () => {
    const r = await review(podWith({}, spec()));
    assert.deepEqual(state(r.after), ['migrate:yes', 'a:yes', 'b:yes', 'c:no']);
  });

  it('exactly the named ones, with or without a reference; the rest are left as they are', async () => {
    const r = await review(podWith({ [A.CONTAINERS.key]: ' b, c ' }, spec()));
    assert.equal(r.allowed, true, r.message);
    assert.deepEqual(state(r.after), ['migrate:no', 'a:no', 'b:yes', 'c:yes']);
    assert.deepEqual(container(r.after, 'a'), spec().containers?.[0]);
    assert.deepEqual(r.warnings, []);
  });

  it('an init container by name', async () => {
    const r = await review(podWith({ [A.CONTAINERS.key]: 'migrate' }, spec()));
    assert.deepEqual(state(r.after), ['migrate:yes', 'a:no', 'b:no', 'c:no']);
  });

  it('a name that matches no container is a warning', async () => {
    const r = await review(podWith({ [A.CONTAINERS.key]: 'a,ghost' }, spec()));
    assert.deepEqual(state(r.after), ['migrate:no', 'a:yes', 'b:no', 'c:no']);
    assert.deepEqual(r.warnings, [
      'annotation vault-inject.dev/containers names no container "ghost"',
    ]);
  });

  // Bank-Vaults (webhook 1.23.1 pkg/webhook/pod.go, mutateContainers) runs its init containers
  // through vault-env like the others when vault-env-from-path is set, with or without a reference.
  it('from-path: every container, init containers too; inject: true: app containers only', async () => {
    const noRef = (): Partial<Pod['spec']> => ({
      ...spec(),
      initContainers: [{ name: 'migrate', image: 'm', command: ['/migrate'] }],
    });
    const fromPath = 'vault.security.banzaicloud.io/vault-env-from-path';
    const r = await review(podWith({ [fromPath]: 'secret/data/app' }, noRef()));
    assert.deepEqual(state(r.after), ['migrate:yes', 'a:yes', 'b:yes', 'c:yes']);
    const migrate = container(r.after, 'migrate');
    assert.ok(migrate.env?.some((e) => e.name === 'VAULT_ENV_FROM_PATH'));
    const inject = await review(podWith({ [A.INJECT.key]: 'true' }, noRef()));
    assert.deepEqual(state(inject.after), ['migrate:no', 'a:yes', 'b:yes', 'c:yes']);
  });

  it('no name that matches: the pod is left as it is', async () => {
    const r = await review(podWith({ [A.CONTAINERS.key]: 'ghost' }, spec()));
    assert.deepEqual(state(r.after), ['migrate:no', 'a:no', 'b:no', 'c:no']);
    assert.equal(r.after.metadata?.annotations?.[A.STATUS.key], undefined);
  });
});

describe('token-audience', () => {
  it('a projected token with that audience, mounted in injected containers only', async () => {
    const r = await review(
      podWith(
        { [A.TOKEN_AUDIENCE.key]: 'vault.example' },
        {
          initContainers: [{ name: 'setup', image: 's', command: ['/setup'] }],
          containers: [
            { name: 'app', image: 'a', command: ['/a'], env: [{ name: 'X', value: 'vault:s#x' }] },
            { name: 'side', image: 'b', command: ['/b'] },
          ],
        },
      ),
    );
    const volume = r.after.spec.volumes?.find((v) => v.name === TOKEN_VOLUME_NAME);
    assert.deepEqual(volume, {
      name: TOKEN_VOLUME_NAME,
      projected: {
        sources: [
          {
            serviceAccountToken: {
              audience: 'vault.example',
              expirationSeconds: 3600,
              path: 'token',
            },
          },
        ],
      },
    });
    const all = [...(r.after.spec.initContainers ?? []), ...r.after.spec.containers];
    assert.deepEqual(
      all.map((c) => [c.name, (c.volumeMounts ?? []).some((m) => m.name === TOKEN_VOLUME_NAME)]),
      [
        ['vault-inject-copy', false],
        ['setup', false],
        ['app', true],
        ['side', false],
      ],
    );
    const mount = container(r.after, 'app').volumeMounts?.find((m) => m.name === TOKEN_VOLUME_NAME);
    assert.equal(mount?.readOnly, true);
    assert.equal(
      envOf(r.after, 'KUBERNETES_SERVICE_ACCOUNT_TOKEN'),
      `${mount?.mountPath}/token`,
      'the init program is told where the token is',
    );
  });

  it('without the annotation: no token volume, no KUBERNETES_SERVICE_ACCOUNT_TOKEN', async () => {
    const r = await review(podWith({}));
    assert.equal(
      r.after.spec.volumes?.some((v) => v.name === TOKEN_VOLUME_NAME),
      false,
    );
    assert.equal(envOf(r.after, 'KUBERNETES_SERVICE_ACCOUNT_TOKEN'), undefined);
  });
});

// A path annotation goes into a URL the init program requests: `auth-path: ../../sys` turned the
// login into a request to /v1/sys/login, a newline in `namespace` into a header the HTTP client
// refuses. The segment rules of references apply; a bad value denies the pod naming it.
describe('path annotations follow the segment rules of references', () => {
  const PATHS = [A.AUTH_PATH, A.NAMESPACE, A.TRANSIT_PATH, A.TRANSIT_KEY, A.FROM_PATH];
  const BAD = [
    '../../sys',
    'a/../b',
    'a/./b',
    'a//b',
    '..',
    'team\nother',
    'a b',
    'a?x=1',
    '%2e%2e',
    'a${x}',
  ];

  for (const a of PATHS) {
    it(`${a.key} (and its alias): denied naming the annotation`, async () => {
      for (const v of BAD) {
        for (const key of [a.key, a.alias ?? '']) {
          const r = await review(podWith({ [key]: v }));
          assert.equal(r.allowed, false, `${key}: ${JSON.stringify(v)}`);
          assert.ok(
            r.message?.startsWith(`annotation ${key}: ${JSON.stringify(v)} `),
            `${JSON.stringify(v)}: ${r.message}`,
          );
        }
      }
    });
  }

  it('good paths pass as written, slashes at either end allowed', async () => {
    const r = await review(
      podWith({
        [A.AUTH_PATH.key]: '/auth/k8s-prod/',
        [A.NAMESPACE.key]: 'team-a/child',
        [A.TRANSIT_PATH.key]: 'transit_2',
        [A.FROM_PATH.key]: 'secret/data/a, kv/b',
      }),
    );
    assert.equal(r.allowed, true, r.message);
    assert.equal(envOf(r.after, 'VAULT_PATH'), '/auth/k8s-prod/');
    assert.equal(envOf(r.after, 'VAULT_NAMESPACE'), 'team-a/child');
    assert.equal(envOf(r.after, 'VAULT_ENV_FROM_PATH'), 'secret/data/a, kv/b');
  });

  // Bank-Vaults' vault-env-from-path takes `PATH#VERSION` (vault-sdk injector.go,
  // InjectSecretsFromVaultPath); the version follows a reference's rules.
  it('from-path: a version after "#" passes; a bad one denies, naming the annotation', async () => {
    const key = 'vault.security.banzaicloud.io/vault-env-from-path';
    const ok = await review(podWith({ [key]: 'secret/data/a#1, kv/b' }));
    assert.equal(ok.allowed, true, ok.message);
    assert.equal(envOf(ok.after, 'VAULT_ENV_FROM_PATH'), 'secret/data/a#1, kv/b');
    for (const [v, item] of [
      ['secret/data/a#0', 'secret/data/a#0'],
      ['kv/b,secret/data/a#v2', 'secret/data/a#v2'],
      ['secret/data/a#1#2', 'secret/data/a#1#2'],
    ] as const) {
      const r = await review(podWith({ [key]: v }));
      assert.equal(r.allowed, false, v);
      assert.match(
        r.message ?? '',
        new RegExp(
          `^annotation ${key}: ${JSON.stringify(item)} has the version "[^"]*" after "#", which is not a positive whole number$`,
        ),
      );
    }
  });

  it('from-path: one bad item denies, naming it', async () => {
    const r = await review(podWith({ [A.FROM_PATH.key]: 'secret/data/a,../x' }));
    assert.equal(
      r.message,
      'annotation vault-inject.dev/from-path: "../x" has an empty, "." or ".." segment',
    );
  });

  it('the same rules for a container that sets VAULT_PATH itself', async () => {
    const pod = podWith({});
    pod.spec.containers[0]?.env?.push({ name: 'VAULT_PATH', value: '../../sys' });
    const r = await review(pod);
    assert.equal(r.allowed, false);
    assert.equal(
      r.message,
      'container "app", env VAULT_PATH: "../../sys" has an empty, "." or ".." segment',
    );
  });
});
