/**
 * Bank-Vaults annotations end to end on the real node: pods written for Bank-Vaults (their
 * annotation names only) stored through the apiserver and the built webhook and run by the
 * kubelet. A `vault-role` template logs in as the role it renders to; `mutate-probes` runs the
 * readiness probe through the init program, so the probe sees the secret; `vault-env-delay`,
 * `log-level` and `enable-json-log` reach the init program; `token-auth-mount` logs in with the
 * token of a Secret volume. The apps print hashes, never values.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { FIXTURES_POLICY } from '../env/openbao.ts';
import { restrictedPod } from '../env/stack.ts';
import { APP_SECRET, REF, useStack } from './harness.ts';
import { HASH_ENV_SCRIPT, parseHashes, runOnNode } from './on-node.ts';

const h = useStack({ node: true });
const sha = (v: string): string => createHash('sha256').update(v).digest('hex');
const BV = 'vault.security.banzaicloud.io/';

/** Waits (at most 60 s) for the probe's file, prints its hash line, then the env's hashes. */
const WAIT_FOR_PROBE = `for i in $$(seq 60); do [ -s /state/probe ] && break; sleep 1; done; echo "probe=$$(cut -d" " -f1 /state/probe)"; ${HASH_ENV_SCRIPT}`;

describe('Bank-Vaults annotations on the real node', () => {
  it('vault-role template, mutate-probes, vault-env-delay, log-level and enable-json-log', async () => {
    const { stack, ns } = h;
    const pod = restrictedPod(
      'bv-probes',
      {
        image: 'docker.io/library/busybox:1.35',
        command: ['/bin/sh', '-c', WAIT_FOR_PROBE],
        env: [{ name: 'USER_NAME', value: REF.user }],
        volumeMounts: [{ name: 'state', mountPath: '/state' }],
        readinessProbe: {
          exec: { command: ['/bin/sh', '-c', 'printf %s "$USER_NAME" | sha256sum > /state/probe'] },
          initialDelaySeconds: 1,
          periodSeconds: 2,
          timeoutSeconds: 20,
        },
      },
      {
        serviceAccountName: 'app',
        annotations: {
          // Renders to `app` (the Vault role bound to the pod's service account) only when rendered.
          [`${BV}vault-role`]: 'a{{ .serviceaccount }}',
          [`${BV}vault-serviceaccount`]: 'pp',
          [`${BV}mutate-probes`]: 'true',
          [`${BV}vault-env-delay`]: '1s',
          [`${BV}log-level`]: 'debug',
          [`${BV}enable-json-log`]: 'false',
          'vault-inject.dev/token-audience': 'vault',
        },
      },
    );
    pod.spec = { ...pod.spec, containers: pod.spec?.containers ?? [] };
    pod.spec.volumes = [{ name: 'state', emptyDir: {} }];
    const run = await runOnNode(stack, ns, pod);
    assert.equal(run.exitCode, 0, run.log);
    const vars = parseHashes(run.stdout);
    assert.equal(vars.get('USER_NAME'), sha(APP_SECRET.user));
    assert.match(run.stdout, new RegExp(`^probe=${sha(APP_SECRET.user)}$`, 'm'), run.stdout);
    const app = run.stored.spec?.containers[0];
    const role = app?.env?.find((e) => e.name === 'VAULT_ROLE')?.value;
    assert.equal(role, 'app', 'the rendered role');
    assert.match(run.log, /^vault-inject-env: debug: /m, 'text lines at debug level');
    assert.match(run.log, /^vault-inject-env: info: waiting before starting the app ms=1000/m);
    assert.ok(!run.log.includes(APP_SECRET.user), 'the secret reached the log');
  });

  it('token-auth-mount: the login is the token of a Secret volume', async () => {
    const { stack, ns } = h;
    const created = (await stack.bao.api('POST', 'auth/token/create', {
      policies: [FIXTURES_POLICY],
      ttl: '10m',
    })) as { auth: { client_token: string } };
    await stack.kube.core.createNamespacedSecret({
      namespace: ns,
      body: { metadata: { name: 'vault-token' }, stringData: { token: created.auth.client_token } },
    });
    const pod = restrictedPod(
      'bv-token-auth',
      {
        image: 'docker.io/library/busybox:1.35',
        command: ['/bin/sh', '-c', HASH_ENV_SCRIPT],
        env: [{ name: 'USER_NAME', value: REF.user }],
      },
      { annotations: { [`${BV}token-auth-mount`]: 'tok:token' } },
    );
    pod.spec = { ...pod.spec, containers: pod.spec?.containers ?? [] };
    pod.spec.volumes = [{ name: 'tok', secret: { secretName: 'vault-token' } }];
    const run = await runOnNode(stack, ns, pod);
    assert.equal(run.exitCode, 0, run.log);
    assert.equal(parseHashes(run.stdout).get('USER_NAME'), sha(APP_SECRET.user));
    const app = run.stored.spec?.containers[0];
    assert.equal(app?.env?.find((e) => e.name === 'VAULT_AUTH_METHOD')?.value, 'token');
    assert.ok(!run.log.includes(created.auth.client_token), 'the token reached the log');
  });
});
