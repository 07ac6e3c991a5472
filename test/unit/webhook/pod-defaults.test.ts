// Webhook-wide defaults of pod settings (docs/configuration.md#defaults-for-pods): each from its
// flag, our variable or Bank-Vaults' variable, in that order; a pod's annotation wins over all;
// every bad default refused at start in one message; skip-verify only with --allow-skip-verify.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fjp from 'fast-json-patch';
import { TLS_MOUNT_PATH } from '../../../init-binary/src/contract/index.ts';
import { injectionConfig, readFlags } from '../../../webhook/src/config.ts';
import { WebhookError } from '../../../webhook/src/errors.ts';
import { initEnv } from '../../../webhook/src/mutation/mutate.ts';
import { podSettings } from '../../../webhook/src/mutation/pod-settings.ts';
import type { InjectionConfig } from '../../../webhook/src/mutation/settings.ts';
import type { Pod } from '../../../webhook/src/mutation/types.ts';
import { appPod, decodePatch, harness, podReview, postReview } from './helpers.ts';

type Env = Record<string, string>;

function config(argv: string[] = [], env: Env = {}): InjectionConfig {
  return injectionConfig(readFlags(argv, env).flags);
}

/** The message `injectionConfig` refuses the configuration with. */
function refusal(argv: string[], env: Env = {}): string {
  try {
    config(argv, env);
  } catch (err) {
    assert.ok(err instanceof WebhookError, String(err));
    assert.equal(err.code, 'E_CONFIG');
    return err.message;
  }
  assert.fail('the configuration was accepted');
}

const pod = (annotations: Record<string, string> = {}): Pod => appPod(annotations);

/** The init env the pod gets, as name → value. */
function envOf(p: Pod, c: InjectionConfig): Record<string, string> {
  const warnings: string[] = [];
  const env = initEnv(podSettings(p, c, warnings), c);
  return Object.fromEntries(env.map((e) => [e.name, String(e.value)]));
}

// Each default: its flag, our variable, the variable Bank-Vaults' webhook reads (viper keys of
// vault-secrets-webhook 1.23.1 pkg/webhook/config.go, read through AutomaticEnv, upper-cased),
// the defaults field and three distinct valid values.
const DEFAULTS: [string, string, string, string, [string, string, string]][] = [
  ['default-role', 'VAULT_INJECT_DEFAULT_ROLE', 'VAULT_ROLE', 'role', ['r-flag', 'r-ours', 'r-bv']],
  [
    'default-namespace',
    'VAULT_INJECT_DEFAULT_NAMESPACE',
    'VAULT_NAMESPACE',
    'namespace',
    ['ns/flag', 'ns/ours', 'ns/bv'],
  ],
  [
    'default-tls-secret',
    'VAULT_INJECT_DEFAULT_TLS_SECRET',
    'VAULT_TLS_SECRET',
    'tlsSecret',
    ['ca-flag', 'ca-ours', 'ca-bv'],
  ],
  [
    'default-client-timeout',
    'VAULT_INJECT_DEFAULT_CLIENT_TIMEOUT',
    'VAULT_CLIENT_TIMEOUT',
    'clientTimeout',
    ['11s', '12s', '1m'],
  ],
  [
    'default-transit-key',
    'VAULT_INJECT_DEFAULT_TRANSIT_KEY',
    'TRANSIT_KEY_ID',
    'transitKey',
    ['k-flag', 'k-ours', 'k-bv'],
  ],
  [
    'default-transit-path',
    'VAULT_INJECT_DEFAULT_TRANSIT_PATH',
    'TRANSIT_PATH',
    'transitPath',
    ['t-flag', 't-ours', 't-bv'],
  ],
  [
    'default-env-passthrough',
    'VAULT_INJECT_DEFAULT_ENV_PASSTHROUGH',
    'VAULT_ENV_PASSTHROUGH',
    'envPassthrough',
    ['A', 'B', 'C'],
  ],
];

describe('pod defaults: where each comes from', () => {
  for (const [flag, ours, bv, field, [fromFlag, fromOurs, fromBv]] of DEFAULTS) {
    it(`--${flag}: flag > ${ours} > ${bv} > none`, () => {
      const both = { [ours]: fromOurs, [bv]: fromBv };
      const get = (c: InjectionConfig): unknown =>
        (c.defaults as unknown as Record<string, unknown>)[field];
      assert.equal(get(config([`--${flag}=${fromFlag}`], both)), fromFlag);
      assert.equal(get(config([], both)), fromOurs);
      assert.equal(get(config([], { [bv]: fromBv })), fromBv);
      assert.equal(get(config([], {})), undefined);
      // Our variable set, even empty, is the operator's word: Bank-Vaults' is not read.
      assert.equal(get(config([], { [ours]: '', [bv]: fromBv })), undefined);
    });
  }

  it('--auth-path and --auth-method read VAULT_PATH and VAULT_AUTH_METHOD after ours', () => {
    const bv = { VAULT_PATH: 'k8s-bv', VAULT_AUTH_METHOD: 'jwt' };
    const c = config([], bv);
    assert.equal(c.authPath, 'k8s-bv');
    assert.equal(c.authMethod, 'jwt');
    const ours = config([], {
      ...bv,
      VAULT_INJECT_AUTH_PATH: 'k8s-ours',
      VAULT_INJECT_AUTH_METHOD: 'approle',
    });
    assert.equal(ours.authPath, 'k8s-ours');
    assert.equal(ours.authMethod, 'approle');
    assert.equal(config(['--auth-method=token'], bv).authMethod, 'token');
    // Built in: kubernetes for both (Bank-Vaults' own default method is jwt; ours is not).
    assert.deepEqual([config().authPath, config().authMethod], ['kubernetes', 'kubernetes']);
  });

  it("the allowlist and the operator's skip-verify permission read Bank-Vaults' names too", () => {
    // vault-secrets-webhook 1.23.1 pkg/webhook/webhook.go vaultAddrPolicy (vault_addr_allowlist)
    // and pkg/common/policy.go ResolveObjectSkipVerify (vault_allow_object_skip_verify).
    const bv = {
      VAULT_ADDR_ALLOWLIST: 'https://a.example:8200, https://b.example:8200',
      VAULT_ALLOW_OBJECT_SKIP_VERIFY: 'true',
    };
    const c = config([], bv);
    assert.deepEqual(c.allowedVaultAddrs, ['https://a.example:8200', 'https://b.example:8200']);
    assert.equal(c.allowSkipVerify, true);
    const ours = config([], {
      ...bv,
      VAULT_INJECT_ALLOWED_VAULT_ADDRS: 'https://c.example:8200',
      VAULT_INJECT_ALLOW_SKIP_VERIFY: 'false',
    });
    assert.deepEqual(ours.allowedVaultAddrs, ['https://c.example:8200']);
    assert.equal(ours.allowSkipVerify, false);
    // Bank-Vaults' permission is enough for Bank-Vaults' skip-verify default.
    assert.equal(config([], { ...bv, VAULT_SKIP_VERIFY: 'true' }).defaults.skipVerify, true);
    assert.match(
      refusal([], { VAULT_ADDR_ALLOWLIST: 'vault.example' }),
      /--allowed-vault-addrs \(from VAULT_ADDR_ALLOWLIST\): "vault.example" is not an http\(s\) URL/,
    );
  });

  it('booleans: ignore-missing and skip-verify, from Bank-Vaults names too', () => {
    const bv = { VAULT_IGNORE_MISSING_SECRETS: 'true', VAULT_SKIP_VERIFY: '1' };
    const c = config(['--allow-skip-verify'], bv);
    assert.deepEqual([c.defaults.ignoreMissing, c.defaults.skipVerify], [true, true]);
    const off = config(['--allow-skip-verify'], {
      ...bv,
      VAULT_INJECT_DEFAULT_IGNORE_MISSING: 'false',
      VAULT_INJECT_DEFAULT_SKIP_VERIFY: 'f',
    });
    assert.deepEqual([off.defaults.ignoreMissing, off.defaults.skipVerify], [false, false]);
    const none = config();
    assert.deepEqual([none.defaults.ignoreMissing, none.defaults.skipVerify], [false, false]);
    assert.equal(config(['--default-ignore-missing'], {}).defaults.ignoreMissing, true);
  });
});

describe('pod defaults: refused at start', () => {
  it('names every bad default at once, with the variable it came from', () => {
    const message = refusal(['--default-namespace=../sys', '--default-client-timeout=soon'], {
      VAULT_TLS_SECRET: 'Not_A_Name',
      VAULT_INJECT_DEFAULT_TRANSIT_KEY: 'a b',
      TRANSIT_PATH: 'x/../y',
      VAULT_AUTH_METHOD: 'aws-ec2',
      VAULT_PATH: '$bad',
      VAULT_IGNORE_MISSING_SECRETS: 'maybe',
      VAULT_SKIP_VERIFY: 'true',
    });
    const expected = [
      /--default-namespace: "\.\.\/sys"/,
      /--default-client-timeout: "soon" is not a positive duration/,
      /--default-tls-secret \(from VAULT_TLS_SECRET\): "Not_A_Name" is not a valid Secret name/,
      /--default-transit-key \(from VAULT_INJECT_DEFAULT_TRANSIT_KEY\): "a b"/,
      /--default-transit-path \(from TRANSIT_PATH\): "x\/\.\.\/y"/,
      /--auth-method \(from VAULT_AUTH_METHOD\): "aws-ec2" is not one of kubernetes, jwt/,
      /--auth-path \(from VAULT_PATH\): "\$bad"/,
      /--default-ignore-missing \(from VAULT_IGNORE_MISSING_SECRETS\): "maybe" is not true or false/,
      /--default-skip-verify \(from VAULT_SKIP_VERIFY\): true needs --allow-skip-verify/,
    ];
    assert.match(message, new RegExp(`^${expected.length} problems`));
    for (const re of expected) assert.match(message, re);
  });

  it('a default role template that cannot render stops the start, naming the flag', () => {
    assert.match(
      refusal(['--default-role={{.nope}}']),
      /^--default-role: template names the field "nope"/,
    );
    assert.match(
      refusal([], { VAULT_ROLE: '{{.namespace' }),
      /^--default-role \(from VAULT_ROLE\): template has an unclosed action/,
    );
    assert.equal(config(['--default-role={{.namespace}}-r']).defaults.role, '{{.namespace}}-r');
  });

  it('skip-verify by default only where the operator allows skipping', () => {
    assert.match(refusal(['--default-skip-verify']), /^--default-skip-verify: true needs/);
    assert.match(
      refusal(['--default-skip-verify', '--allow-skip-verify=false']),
      /needs --allow-skip-verify/,
    );
    // A bad --allow-skip-verify is named alone, not again through the default.
    const message = refusal(['--default-skip-verify', '--allow-skip-verify=perhaps']);
    assert.match(message, /^--allow-skip-verify: "perhaps" is not true or false$/);
    assert.equal(
      config(['--default-skip-verify', '--allow-skip-verify']).defaults.skipVerify,
      true,
    );
  });
});

describe('pod defaults: what a pod gets', () => {
  const all = config(['--allow-skip-verify'], {
    VAULT_ROLE: 'apps-reader',
    VAULT_NAMESPACE: 'team-a',
    VAULT_TLS_SECRET: 'vault-ca',
    VAULT_CLIENT_TIMEOUT: '20s',
    TRANSIT_KEY_ID: 'app-key',
    TRANSIT_PATH: 'transit-2',
    VAULT_IGNORE_MISSING_SECRETS: 'true',
    VAULT_ENV_PASSTHROUGH: 'VAULT_ADDR',
    VAULT_SKIP_VERIFY: 'true',
    VAULT_AUTH_METHOD: 'jwt',
    VAULT_PATH: 'jwt-apps',
  });

  it('a pod without annotations gets every default in its init env', () => {
    assert.deepEqual(envOf(pod(), all), {
      VAULT_ADDR: 'https://vault.vault:8200',
      VAULT_ROLE: 'apps-reader',
      VAULT_PATH: 'jwt-apps',
      VAULT_AUTH_METHOD: 'jwt',
      VAULT_NAMESPACE: 'team-a',
      VAULT_SKIP_VERIFY: 'true',
      VAULT_CACERT: `${TLS_MOUNT_PATH}/ca.crt`,
      VAULT_CLIENT_TIMEOUT: '20s',
      VAULT_IGNORE_MISSING_SECRETS: 'true',
      VAULT_ENV_PASSTHROUGH: 'VAULT_ADDR',
      VAULT_TRANSIT_KEY_ID: 'app-key',
      VAULT_TRANSIT_PATH: 'transit-2',
    });
  });

  it("the pod's annotations win, ours and Bank-Vaults' names alike", () => {
    const env = envOf(
      pod({
        'vault-inject.dev/role': 'own-role',
        'vault.security.banzaicloud.io/vault-namespace': 'team-b',
        'vault-inject.dev/tls-secret': 'own-ca',
        'vault.security.banzaicloud.io/vault-client-timeout': '3s',
        'vault-inject.dev/transit-key': 'own-key',
        'vault.security.banzaicloud.io/transit-path': 'own-transit',
        'vault-inject.dev/ignore-missing': 'false',
        'vault.security.banzaicloud.io/vault-env-passthrough': 'VAULT_ROLE',
        'vault-inject.dev/skip-verify': 'false',
        'vault.security.banzaicloud.io/vault-auth-method': 'kubernetes',
        'vault-inject.dev/auth-path': 'k8s',
      }),
      all,
    );
    assert.deepEqual(env, {
      VAULT_ADDR: 'https://vault.vault:8200',
      VAULT_ROLE: 'own-role',
      VAULT_PATH: 'k8s',
      VAULT_AUTH_METHOD: 'kubernetes',
      VAULT_NAMESPACE: 'team-b',
      VAULT_CACERT: `${TLS_MOUNT_PATH}/ca.crt`,
      VAULT_CLIENT_TIMEOUT: '3s',
      VAULT_ENV_PASSTHROUGH: 'VAULT_ROLE',
      VAULT_TRANSIT_KEY_ID: 'own-key',
      VAULT_TRANSIT_PATH: 'own-transit',
    });
  });

  it('an annotation set empty is absent: the default applies', () => {
    const env = envOf(pod({ 'vault-inject.dev/namespace': '', 'vault-inject.dev/role': ' ' }), all);
    assert.equal(env.VAULT_NAMESPACE, 'team-a');
    assert.equal(env.VAULT_ROLE, 'apps-reader');
  });

  it('without a default role, the service account name as before', () => {
    assert.equal(envOf(pod(), config()).VAULT_ROLE, 'app');
    // The default role is read as the annotation is: a role without template braces as written.
    assert.equal(envOf(pod(), config(['--default-role=plain-role'])).VAULT_ROLE, 'plain-role');
  });

  it("a default role template is rendered for each pod, as the annotation's is", () => {
    const c = config(['--default-role={{.namespace}}-{{.authmethod}}']);
    assert.equal(envOf(pod(), c).VAULT_ROLE, 'apps-kubernetes');
    // A field that renders empty for this pod is named by the flag it came from.
    const warnings: string[] = [];
    podSettings(pod(), config(['--default-role=r{{.serviceaccount}}']), warnings);
    assert.match(warnings.join('\n'), /^--default-role: \{\{\.serviceaccount\}\} renders empty/);
  });

  it('without defaults, a pod gets only what it asks for', () => {
    assert.deepEqual(envOf(pod(), config()), {
      VAULT_ADDR: 'https://vault.vault:8200',
      VAULT_ROLE: 'app',
      VAULT_PATH: 'kubernetes',
      VAULT_AUTH_METHOD: 'kubernetes',
    });
  });

  it('--default-tls-secret mounts the CA Secret into a pod without the annotation', async () => {
    const p = pod();
    const res = await postReview(
      harness({ 'default-tls-secret': 'vault-ca' }),
      podReview(p, { namespace: 'apps' }),
    );
    const { response } = res.json();
    assert.equal(response.allowed, true);
    const ops = decodePatch(response.patch) as fjp.Operation[];
    const after = fjp.applyPatch(structuredClone(p), ops, true, false).newDocument;
    interface SecretVolume {
      name: string;
      secret?: { secretName?: string; items?: unknown };
    }
    const volumes = (after.spec.volumes ?? []) as SecretVolume[];
    const volume = volumes.find((v) => v.secret?.secretName === 'vault-ca');
    assert.ok(volume, 'the CA Secret is a volume of the pod');
    assert.deepEqual(volume.secret?.items, [{ key: 'ca.crt', path: 'ca.crt' }]);
    const app = after.spec.containers[0];
    assert.ok(
      app?.volumeMounts?.some((m) => m.name === volume.name && m.mountPath === TLS_MOUNT_PATH),
    );
    assert.ok(app?.env?.some((e) => e.name === 'VAULT_CACERT'));
  });
});
