/**
 * Credential provider plugins with a fake runner: matchImages as kubelet matches, the config as
 * kubelet validates it, response parsing, caching by cacheKeyType and cacheDuration, and failures
 * that name the provider and never what it printed. Real plugins: test/integration/registry.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseCredentialProviderConfig } from '../../../../webhook/src/registry/oci/credential-provider/config.ts';
import type {
  PluginOutput,
  PluginRun,
} from '../../../../webhook/src/registry/oci/credential-provider/exec.ts';
import { matchesImage } from '../../../../webhook/src/registry/oci/credential-provider/match.ts';
import { CredentialProviders } from '../../../../webhook/src/registry/oci/credential-provider/providers.ts';
import { parseGoDuration } from '../../../../webhook/src/registry/oci/credential-provider/duration.ts';

const CANARY = 'canary-Pw-7f3a9c';

const config = (providers: unknown): string =>
  JSON.stringify({
    apiVersion: 'kubelet.config.k8s.io/v1',
    kind: 'CredentialProviderConfig',
    providers,
  });

const spec = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  name: 'ecr',
  matchImages: ['*.dkr.ecr.*.amazonaws.com', 'r.example:5000/team'],
  defaultCacheDuration: '10m',
  apiVersion: 'credentialprovider.kubelet.k8s.io/v1',
  ...extra,
});

function response(extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    apiVersion: 'credentialprovider.kubelet.k8s.io/v1',
    kind: 'CredentialProviderResponse',
    cacheKeyType: 'Registry',
    auth: { '*.dkr.ecr.*.amazonaws.com': { username: 'AWS', password: CANARY } },
    ...extra,
  });
}

type Answer = Partial<Omit<PluginOutput, 'stdout'>> & { stdout?: string };

function fakeRunner(answer: (run: PluginRun) => Answer) {
  const runs: PluginRun[] = [];
  const runner = (run: PluginRun): Promise<PluginOutput> => {
    runs.push(run);
    const a = answer(run);
    return Promise.resolve({
      code: a.code ?? 0,
      stdout: Buffer.from(a.stdout ?? response()),
      timedOut: a.timedOut ?? false,
      aborted: false,
      tooLarge: false,
    });
  };
  return { runs, runner };
}

function providersWith(
  answer: Parameters<typeof fakeRunner>[0],
  extra: Record<string, unknown> = {},
  clock = { t: 0 },
) {
  const { runs, runner } = fakeRunner(answer);
  const providers = new CredentialProviders({
    providers: parseCredentialProviderConfig('c.yaml', config([spec(extra)])),
    binDir: '/plugins',
    timeoutMs: 500,
    runner,
    now: () => clock.t,
  });
  return { runs, providers, clock };
}

const ECR = '123.dkr.ecr.eu-west-1.amazonaws.com/app';

describe('matchImages', () => {
  it('matches like kubelet: a wildcard per host label, port exact, path prefix', () => {
    assert.ok(matchesImage('*.dkr.ecr.*.amazonaws.com', ECR));
    assert.ok(matchesImage('*.azurecr.io', 'team.azurecr.io/app'));
    assert.ok(matchesImage('gcr.io', 'gcr.io/project/app'));
    assert.ok(matchesImage('k8s.*', 'k8s.io/pause'));
    assert.ok(matchesImage('app*.k8s.io', 'app1.k8s.io/x'));
    assert.ok(matchesImage('registry.io:8080/path', 'registry.io:8080/path/app'));
    // kubelet's path rule is a plain string prefix
    assert.ok(matchesImage('registry.io:8080/path', 'registry.io:8080/pathology'));
    assert.ok(!matchesImage('*.io', 'k8s.gcr.io/x'), 'one label per wildcard');
    assert.ok(!matchesImage('*.azurecr.io', 'azurecr.io/x'));
    assert.ok(!matchesImage('registry.io:8080', 'registry.io/x'), 'port must be equal');
    assert.ok(!matchesImage('registry.io', 'registry.io:8080/x'));
    assert.ok(!matchesImage('registry.io/path', 'registry.io/other/app'));
    assert.ok(matchesImage('r[0-9].example', 'r1.example/x'));
    assert.ok(!matchesImage('r[^0-9].example', 'r1.example/x'));
  });
});

describe('CredentialProviderConfig', () => {
  it('reads YAML as the nodes use it, with env and args', () => {
    const yaml = [
      'apiVersion: kubelet.config.k8s.io/v1',
      'kind: CredentialProviderConfig',
      'providers:',
      '  - name: ecr-credential-provider',
      '    matchImages: ["*.dkr.ecr.*.amazonaws.com"]',
      '    defaultCacheDuration: "12h"',
      '    apiVersion: credentialprovider.kubelet.k8s.io/v1',
      '    args: [get-credentials]',
      '    env:',
      '      - name: AWS_PROFILE',
      '        value: temp',
    ].join('\n');
    const [provider] = parseCredentialProviderConfig('/etc/c.yaml', yaml);
    assert.equal(provider?.name, 'ecr-credential-provider');
    assert.equal(provider?.defaultCacheDurationMs, 12 * 3600_000);
    assert.deepEqual(provider?.args, ['get-credentials']);
    assert.deepEqual(provider?.env, { AWS_PROFILE: 'temp' });
  });

  it('refuses what kubelet refuses, naming the file and provider', () => {
    const bad: [unknown, RegExp][] = [
      [[spec({ matchImages: [] })], /provider "ecr": matchImages is required/],
      [[spec({ matchImages: ['r.example/*'] })], /wildcard outside the host/],
      [[spec({ defaultCacheDuration: 'soon' })], /defaultCacheDuration/],
      [[spec({ apiVersion: 'v9' })], /apiVersion must be/],
      [[spec({ name: '../x' })], /name must be a file name/],
      [[spec(), spec()], /listed twice/],
      [[spec({ tokenAttributes: {} })], /tokenAttributes.*not supported/],
      [[], /providers is empty/],
    ];
    for (const [providers, message] of bad) {
      assert.throws(
        () => parseCredentialProviderConfig('/etc/c.yaml', config(providers)),
        (e) => {
          assert.match((e as Error).message, /^\/etc\/c\.yaml: /);
          assert.match((e as Error).message, message);
          return true;
        },
      );
    }
  });

  it('reads Go durations', () => {
    assert.equal(parseGoDuration('1h30m'), 5_400_000);
    assert.equal(parseGoDuration('0'), 0);
    assert.equal(parseGoDuration('1.5s'), 1500);
    assert.equal(parseGoDuration('5'), undefined);
  });
});

describe('CredentialProviders', () => {
  it('sends a CredentialProviderRequest with the args and env of the config', async () => {
    const { runs, providers } = providersWith(() => ({}), {
      args: ['get-credentials'],
      env: [{ name: 'AWS_PROFILE', value: 'temp' }],
    });
    const [source] = await providers.sources(ECR);
    assert.equal(runs.length, 1);
    assert.equal(runs[0]?.file, '/plugins/ecr');
    assert.deepEqual(runs[0]?.args, ['get-credentials']);
    assert.deepEqual(runs[0]?.env, { AWS_PROFILE: 'temp' });
    assert.equal(runs[0]?.timeoutMs, 500);
    assert.deepEqual(JSON.parse(runs[0]?.input ?? ''), {
      apiVersion: 'credentialprovider.kubelet.k8s.io/v1',
      kind: 'CredentialProviderRequest',
      image: ECR,
    });
    assert.equal(source?.kind, 'credential provider');
    assert.equal(source?.name, 'ecr');
    assert.equal(source?.entries[0]?.credential.password, CANARY);
  });

  it('runs only for matching images', async () => {
    const { runs, providers } = providersWith(() => ({}));
    assert.deepEqual(await providers.sources('docker.io/library/nginx'), []);
    assert.equal(runs.length, 0);
  });

  it('caches by cacheKeyType for cacheDuration, else defaultCacheDuration', async () => {
    const other = '123.dkr.ecr.eu-west-1.amazonaws.com/other';
    // Registry: another repository on the same registry is served from the cache.
    let t = providersWith(() => ({ stdout: response({ cacheKeyType: 'Registry' }) }));
    await t.providers.sources(ECR);
    await t.providers.sources(other);
    assert.equal(t.runs.length, 1);
    t.clock.t = 10 * 60_000 + 1; // past defaultCacheDuration (10m)
    await t.providers.sources(ECR);
    assert.equal(t.runs.length, 2);
    // Image: only the same image.
    t = providersWith(() => ({ stdout: response({ cacheKeyType: 'Image', cacheDuration: '1m' }) }));
    await t.providers.sources(ECR);
    await t.providers.sources(ECR);
    await t.providers.sources(other);
    assert.equal(t.runs.length, 2);
    t.clock.t = 60_001; // past the response's cacheDuration
    await t.providers.sources(ECR);
    assert.equal(t.runs.length, 3);
    // Global: every image.
    t = providersWith(() => ({ stdout: response({ cacheKeyType: 'Global' }) }));
    await t.providers.sources(ECR);
    await t.providers.sources('r.example:5000/team/app');
    assert.equal(t.runs.length, 1);
    // cacheDuration 0: never cached.
    t = providersWith(() => ({ stdout: response({ cacheDuration: '0s' }) }));
    await t.providers.sources(ECR);
    await t.providers.sources(ECR);
    assert.equal(t.runs.length, 2);
  });

  it('shares one run between identical requests in flight', async () => {
    const t = providersWith(() => ({}));
    await Promise.all([t.providers.sources(ECR), t.providers.sources(ECR)]);
    assert.equal(t.runs.length, 1);
  });

  it('names the provider and the reason, never what it printed', async () => {
    const cases: [Answer, RegExp][] = [
      [{ code: 3, stdout: CANARY }, /^credential provider "ecr" exited with code 3$/],
      [{ timedOut: true, code: null }, /^credential provider "ecr" gave no answer within 500 ms$/],
      [
        { stdout: `not json ${CANARY}` },
        /^credential provider "ecr" printed something that is not JSON$/,
      ],
      [{ stdout: response({ kind: 'Other' }) }, /printed no CredentialProviderResponse/],
      [
        { stdout: response({ cacheKeyType: 'Pod' }) },
        /cacheKeyType is not Image, Registry or Global/,
      ],
      [{ stdout: response({ cacheDuration: 'later' }) }, /cacheDuration is not a duration/],
      [
        { stdout: response({ apiVersion: 'credentialprovider.kubelet.k8s.io/v1beta1' }) },
        /another apiVersion/,
      ],
      [
        { stdout: response({ auth: { 'r.example': { username: 1, password: CANARY } } }) },
        /"auth" entry "r.example"/,
      ],
    ];
    for (const [answer, message] of cases) {
      const t = providersWith(() => answer);
      await assert.rejects(t.providers.sources(ECR), (e: Error) => {
        assert.match(e.message, message);
        assert.ok(!e.message.includes(CANARY));
        return true;
      });
    }
  });
});

describe('CredentialProviders: a caller that gives up', () => {
  it('leaves at once; the shared run goes on and its answer is cached for the next', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const runs: PluginRun[] = [];
    const providers = new CredentialProviders({
      providers: parseCredentialProviderConfig('c.yaml', config([spec()])),
      binDir: '/plugins',
      timeoutMs: 500,
      runner: async (run) => {
        runs.push(run);
        await gate;
        const stdout = Buffer.from(response());
        return { code: 0, stdout, timedOut: false, aborted: false, tooLarge: false };
      },
    });
    const controller = new AbortController();
    const first = providers.sources(ECR, controller.signal);
    const second = providers.sources(ECR);
    controller.abort();
    await assert.rejects(first, /credential provider "ecr" was not waited for: lookup abandoned/);
    release();
    assert.equal((await second)[0]?.name, 'ecr');
    await providers.sources(ECR);
    assert.equal(runs.length, 1);
  });
});
