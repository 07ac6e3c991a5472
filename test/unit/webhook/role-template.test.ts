// The `role` as a Go template, rendered as Bank-Vaults' webhook renders `vault-role`
// (pkg/webhook/webhook.go: text/template, missingkey=error, five fields); the copy container's
// `run-as-user` / `run-as-group` bounds; `token-auth-mount`'s volume and token auth.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { injectionConfig, readFlags } from '../../../webhook/src/config.ts';
import { copyContainer } from '../../../webhook/src/mutation/mutate.ts';
import { podSettings } from '../../../webhook/src/mutation/pod-settings.ts';
import { renderRole } from '../../../webhook/src/mutation/role-template.ts';
import type { Pod } from '../../../webhook/src/mutation/types.ts';
import { ValueError } from '../../../webhook/src/mutation/values.ts';
import { WebhookError } from '../../../webhook/src/errors.ts';

const FIELDS = {
  authmethod: 'kubernetes',
  name: 'web-0',
  namespace: 'shop',
  path: 'k8s',
  serviceaccount: 'reader',
};

describe('renderRole (Go text/template field actions)', () => {
  const cases: [string, string][] = [
    ['{{.namespace}}-{{.serviceaccount}}', 'shop-reader'],
    ['{{ .namespace }}', 'shop'],
    ['app  {{- .name -}}  x', 'appweb-0x'],
    ['{{.authmethod}}/{{.path}}', 'kubernetes/k8s'],
    ['a{{/* a comment */}}b', 'ab'],
    ['plain', 'plain'],
    ['}} is text', '}} is text'],
  ];
  for (const [template, role] of cases) {
    it(`${template} → ${role}`, () => assert.equal(renderRole(template, FIELDS).role, role));
  }
  it('says which fields it used', () => {
    assert.deepEqual(
      [...renderRole('{{.name}}{{.name}}-{{.path}}', FIELDS).used],
      ['name', 'path'],
    );
  });
  const bad: [string, RegExp][] = [
    ['{{.Namespace}}', /field "Namespace", which does not exist \(fields: authmethod, name,/],
    ['{{.pod}}', /field "pod", which does not exist/],
    ['{{printf "%s" .name}}', /template action "\{\{printf \\"%s\\" .name}}" is not supported/],
    ['{{.}}', /is not supported/],
    ['{{if .name}}x{{end}}', /is not supported/],
    ['{{.namespace.x}}', /is not supported/],
    ['ab{{.name', /unclosed action/],
  ];
  for (const [template, message] of bad) {
    it(`refuses ${template}`, () =>
      assert.throws(
        () => renderRole(template, FIELDS),
        (e: unknown) => e instanceof ValueError && message.test(e.message),
      ));
  }
});

const config = injectionConfig(readFlags([], {}).flags);

function pod(annotations: Record<string, string>, extra: Partial<Pod['spec']> = {}): Pod {
  return {
    metadata: { name: 'web-0', annotations },
    spec: { serviceAccountName: 'web', containers: [{ name: 'app' }], ...extra },
  };
}

describe('podSettings: the role template', () => {
  it("renders with the review's namespace, the auth method and path, the serviceaccount", () => {
    const warnings: string[] = [];
    const s = podSettings(
      pod({
        'vault.security.banzaicloud.io/vault-role': '{{.namespace}}-{{.serviceaccount}}-{{.path}}',
        'vault.security.banzaicloud.io/vault-serviceaccount': 'reader',
        'vault.security.banzaicloud.io/vault-path': 'k8s-b',
      }),
      config,
      warnings,
      'shop',
    );
    assert.equal(s.role, 'shop-reader-k8s-b');
    assert.deepEqual(warnings, []);
  });

  it('an empty field renders empty, as in Bank-Vaults, and is told; an empty role is denied', () => {
    const warnings: string[] = [];
    const s = podSettings(
      {
        ...pod({ 'vault-inject.dev/role': 'r-{{.name}}{{.serviceaccount}}' }),
        metadata: {
          generateName: 'web-',
          annotations: { 'vault-inject.dev/role': 'r-{{.name}}{{.serviceaccount}}' },
        },
      },
      config,
      warnings,
      'shop',
    );
    assert.equal(s.role, 'r-');
    assert.equal(warnings.length, 2);
    assert.match(
      warnings[0] ?? '',
      /^vault-inject.dev\/role: \{\{.name}} renders empty, as in Bank-Vaults: the pod has no name yet/,
    );
    assert.match(
      warnings[1] ?? '',
      /\{\{.serviceaccount}} renders empty.*vault-serviceaccount is not set/,
    );
    assert.throws(
      () =>
        podSettings(pod({ 'vault-inject.dev/role': '{{.serviceaccount}}' }), config, [], 'shop'),
      (e: unknown) =>
        e instanceof WebhookError &&
        e.message === 'vault-inject.dev/role: the role template renders empty',
    );
  });

  it('a bad template denies naming the annotation', () => {
    assert.throws(
      () => podSettings(pod({ 'vault.security.banzaicloud.io/vault-role': '{{.ns}}' }), config, []),
      (e: unknown) =>
        e instanceof WebhookError &&
        /^annotation vault\.security\.banzaicloud\.io\/vault-role: template names the field "ns"/.test(
          e.message,
        ),
    );
  });

  it('vault-serviceaccount without a role template has no effect, and is told', () => {
    const warnings: string[] = [];
    podSettings(
      pod({ 'vault.security.banzaicloud.io/vault-serviceaccount': 'x' }),
      config,
      warnings,
    );
    assert.equal(warnings.length, 1);
    assert.match(warnings[0] ?? '', /vault-serviceaccount has no effect/);
  });
});

describe('run-as-user / run-as-group: the copy container stays restricted', () => {
  for (const v of ['0', '-1', 'root', '1.5', '2147483648']) {
    it(`run-as-user ${v} is denied`, () =>
      assert.throws(
        () => podSettings(pod({ 'vault.security.banzaicloud.io/run-as-user': v }), config, []),
        (e: unknown) =>
          e instanceof WebhookError &&
          e.message.startsWith('annotation vault.security.banzaicloud.io/run-as-user: ') &&
          e.message.includes('is not a non-root user ID from 1 to 2147483647'),
      ));
  }
  it('run-as-group 0 is denied', () =>
    assert.throws(() => podSettings(pod({ 'vault-inject.dev/run-as-group': '0' }), config, [])));
  it('the annotations win over the pod, and root never comes back', () => {
    const p = pod(
      { 'vault-inject.dev/run-as-user': '1000', 'vault-inject.dev/run-as-group': '2000' },
      { securityContext: { runAsUser: 5, runAsGroup: 6 } },
    );
    const sc = copyContainer(p, config, podSettings(p, config, [])).securityContext;
    assert.deepEqual([sc?.runAsUser, sc?.runAsGroup, sc?.runAsNonRoot], [1000, 2000, true]);
    const root = pod({}, { securityContext: { runAsUser: 0, runAsGroup: 0 } });
    const rootSc = copyContainer(root, config, podSettings(root, config, [])).securityContext;
    assert.deepEqual([rootSc?.runAsUser, rootSc?.runAsGroup], [65534, undefined]);
  });
});

describe('token-auth-mount', () => {
  const key = 'vault.security.banzaicloud.io/token-auth-mount';
  it('needs a volume of the pod', () =>
    assert.throws(
      () => podSettings(pod({ [key]: 'token:vault-token' }), config, []),
      (e: unknown) =>
        e instanceof WebhookError &&
        e.message ===
          `annotation ${key}: the pod has no volume "token"; add it (e.g. a Secret volume holding "vault-token")`,
    ));
  for (const v of ['token', 'token:', 'Token:x', 'a:b:c', 'token:../x', 'token:a/b']) {
    it(`refuses ${v}`, () =>
      assert.throws(() =>
        podSettings(pod({ [key]: v }, { volumes: [{ name: 'token' }] }), config, []),
      ));
  }
  it('logs in with token auth, and says so over another auth-method', () => {
    const warnings: string[] = [];
    const p = pod(
      { [key]: 'token:vault-token', 'vault.security.banzaicloud.io/vault-auth-method': 'jwt' },
      { volumes: [{ name: 'token', secret: { secretName: 's' } }] },
    );
    const s = podSettings(p, config, warnings);
    assert.equal(s.authMethod, 'token');
    assert.deepEqual(s.tokenAuthMount, { volume: 'token', key: 'vault-token' });
    assert.match(
      warnings[0] ?? '',
      /vault-auth-method ignored: .*token-auth-mount logs in with the token of volume "token"/,
    );
  });
});
