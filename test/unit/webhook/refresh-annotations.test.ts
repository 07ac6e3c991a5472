// The refresh annotations (webhook/src/mutation/refresh-rows.ts, docs/configuration.md): set as
// the init program's variables, and denied naming the annotation when bad, when `reload: restart`
// comes with a signal, or when `daemon: "false"` is written beside them.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fjp from 'fast-json-patch';
import type { Pod } from '../../../webhook/src/mutation/types.ts';
import { decodePatch, harness, podReview, postReview } from './helpers.ts';

const FLAGS = { 'vault-addr': 'https://vault.vault:8200' };

function podWith(annotations: Record<string, string>, own: Record<string, string> = {}): Pod {
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
          env: [
            { name: 'DB', value: 'vault:secret/data/app#db' },
            ...Object.entries(own).map(([name, value]) => ({ name, value })),
          ],
        },
      ],
    },
  };
}

async function review(pod: Pod) {
  const res = await postReview(harness(FLAGS), podReview(pod, { namespace: 'apps' }));
  assert.equal(res.statusCode, 200, res.body);
  const { response } = res.json();
  const ops = decodePatch(response.patch) as fjp.Operation[];
  const after: Pod = fjp.applyPatch(structuredClone(pod), ops, true, false).newDocument;
  const env = Object.fromEntries(
    (after.spec.containers[0]?.env ?? []).map((e) => [e.name, e.value]),
  );
  const warnings: string[] = response.warnings ?? [];
  return { allowed: response.allowed as boolean, message: response.status?.message, env, warnings };
}

describe('refresh annotations', () => {
  it('become the init variables; the init program implies daemon mode', async () => {
    const r = await review(
      podWith({
        'vault-inject.dev/refresh-interval': '5m',
        'vault-inject.dev/reload-signal': 'hup',
      }),
    );
    assert.equal(r.allowed, true, r.message);
    assert.equal(r.env['VAULT_INJECT_REFRESH_INTERVAL'], '5m');
    assert.equal(r.env['VAULT_INJECT_RELOAD_SIGNAL'], 'SIGHUP');
    assert.equal(r.env['VAULT_INJECT_RELOAD'], undefined);
    const restart = await review(
      podWith({ 'vault-inject.dev/reload': 'Restart', 'vault-inject.dev/daemon': 'true' }),
    );
    assert.equal(restart.env['VAULT_INJECT_RELOAD'], 'restart');
    assert.equal(restart.env['VAULT_ENV_DAEMON'], 'true');
  });

  it('warns when a signal can never be sent: no secret file to signal a change of', async () => {
    const none = await review(podWith({ 'vault-inject.dev/reload-signal': 'SIGUSR1' }));
    assert.equal(none.allowed, true);
    assert.deepEqual(none.warnings, [
      'annotation vault-inject.dev/reload-signal has no effect: the pod has no secret file to signal a change of; environment values reach the app only with vault-inject.dev/reload: restart',
    ]);
    const withFile = await review(
      podWith({
        'vault-inject.dev/reload': 'signal',
        'vault-inject.dev/secret-file-a.conf': 'vault:secret/data/app#db',
      }),
    );
    assert.equal(withFile.allowed, true, withFile.message);
    assert.deepEqual(withFile.warnings, []);
    const restart = await review(podWith({ 'vault-inject.dev/reload': 'restart' }));
    assert.deepEqual(restart.warnings, []);
    // vault-k8s template files are refreshed like ours: the signal is sent when one changes.
    const agent = await review(
      podWith({
        'vault-inject.dev/reload-signal': 'SIGHUP',
        'vault.hashicorp.com/agent-inject': 'true',
        'vault.hashicorp.com/agent-inject-secret-db': 'secret/data/app',
      }),
    );
    assert.equal(agent.allowed, true, agent.message);
    assert.deepEqual(agent.warnings, []);
  });

  it('denies a bad value, restart with a signal, and daemon "false", naming the annotation', async () => {
    const cases: [Record<string, string>, string][] = [
      [
        { 'vault-inject.dev/refresh-interval': '10x' },
        'annotation vault-inject.dev/refresh-interval: "10x" is not a positive duration such as 30s, 5m or 1h',
      ],
      [
        { 'vault-inject.dev/refresh-interval': '100ms' },
        'annotation vault-inject.dev/refresh-interval: "100ms" is shorter than 1s',
      ],
      [
        { 'vault-inject.dev/reload-signal': 'SIGKILL' },
        'annotation vault-inject.dev/reload-signal: "SIGKILL" is not one of SIGHUP, SIGUSR1, SIGUSR2, SIGINT, SIGQUIT, SIGTERM, SIGWINCH',
      ],
      [
        { 'vault-inject.dev/reload': 'reboot' },
        'annotation vault-inject.dev/reload: "reboot" is not one of signal, restart',
      ],
      [
        { 'vault-inject.dev/reload': 'restart', 'vault-inject.dev/reload-signal': 'SIGHUP' },
        'annotation vault-inject.dev/reload: restart does not send a signal; remove vault-inject.dev/reload-signal',
      ],
      [
        {
          'vault.security.banzaicloud.io/vault-env-daemon': 'false',
          'vault-inject.dev/refresh-interval': '1m',
        },
        'annotation vault-inject.dev/refresh-interval: refresh needs daemon mode, but vault.security.banzaicloud.io/vault-env-daemon is "false"',
      ],
    ];
    const own = await review(podWith({}, { VAULT_INJECT_RELOAD_SIGNAL: 'KILL' }));
    assert.equal(own.allowed, false);
    assert.match(
      own.message ?? '',
      /container "app", env VAULT_INJECT_RELOAD_SIGNAL: "KILL" is not one of SIGHUP/,
    );
    for (const [annotations, message] of cases) {
      const r = await review(podWith(annotations));
      assert.equal(r.allowed, false, JSON.stringify(annotations));
      assert.equal(r.message, message);
    }
  });
});
