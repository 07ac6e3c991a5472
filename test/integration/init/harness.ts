/**
 * What every test file of the built bundle against a real OpenBao sets up the same way: the bundle,
 * a dev server (with the fixtures of setUpFixtures and a signed JWT in a file), a temporary folder,
 * a canary checked in the stderr of every run after each test, and OpenBao's log printed when a
 * test fails. Call `openBaoSuite` at the top of a test file: it registers the hooks there.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, it as nodeIt } from 'node:test';
import { setUpFixtures, startOpenBao, type Fixtures, type OpenBao } from '../../env/openbao.ts';
import { PRINT_ENV, builtBundle, runBundle, type Run } from './bundle.ts';

export interface SuiteOptions {
  /** A value the tests write into secrets: it must never reach a run's stderr. */
  readonly canary: string;
  /** OpenBao with `-dev-tls` (then no fixtures: the file sets up what it needs). */
  readonly tls?: boolean;
  /** Each test's timeout; node:test's default when absent. */
  readonly timeoutMs?: number;
  /** More to print when a test fails, before OpenBao's log. */
  readonly onFailure?: () => string;
  /** More checks of every recorded run, after each test. */
  readonly checkRun?: (r: Run) => void;
  /** The file's own secrets and mounts, written once the server is up. */
  readonly setUp?: (bao: OpenBao, tmp: string) => Promise<void>;
}

export interface Suite {
  readonly bao: OpenBao;
  /** setUpFixtures' result (not with `tls`). */
  readonly fx: Fixtures;
  readonly bundle: string;
  readonly tmp: string;
  /** A file holding a JWT the `jwt` auth mount accepts for role `app` (not with `tls`). */
  readonly jwtFile: string;
  /** `it` with the suite's timeout, printing what the suite knows when the test fails. */
  it(name: string, fn: () => Promise<void>): void;
  /** Runs the bundle with exactly `env` (and a PATH) and records the run for the canary check. */
  go(env: Record<string, string>, argv?: readonly string[]): Promise<Run>;
  /** Records a run started another way (startBundle) for the checks after the test. */
  record(r: Run): Run;
  /** The environment of a pod logging in with the jwt method as role `app`, at `addr`. */
  jwtEnv(extra?: Record<string, string>, addr?: string): Record<string, string>;
}

export function openBaoSuite(options: SuiteOptions): Suite {
  let state: { bao: OpenBao; fx?: Fixtures; bundle: string; tmp: string } | undefined;
  const runs: Run[] = [];
  const ready = (): NonNullable<typeof state> => {
    assert.ok(state, 'the suite is not set up (before() failed?)');
    return state;
  };

  before(async () => {
    const bundle = builtBundle();
    const bao = await startOpenBao(options.tls ? { tls: true } : undefined);
    const tmp = mkdtempSync(join(tmpdir(), 'vault-inject-init-'));
    state = { bao, bundle, tmp };
    if (!options.tls) {
      state.fx = await setUpFixtures(bao);
      writeFileSync(join(tmp, 'token'), state.fx.signJwt());
    }
    await options.setUp?.(bao, tmp);
  });
  after(async () => {
    await state?.bao.stop();
    if (state) rmSync(state.tmp, { recursive: true, force: true });
  });
  afterEach(() => {
    for (const r of runs.splice(0)) {
      assert.doesNotMatch(r.stderr, new RegExp(options.canary), 'a secret value reached stderr');
      options.checkRun?.(r);
    }
  });

  const suite: Suite = {
    get bao() {
      return ready().bao;
    },
    get fx() {
      const { fx } = ready();
      assert.ok(fx, 'no fixtures in a tls suite');
      return fx;
    },
    get bundle() {
      return ready().bundle;
    },
    get tmp() {
      return ready().tmp;
    },
    get jwtFile() {
      return join(ready().tmp, 'token');
    },
    it(name, fn) {
      // An explicit `timeout: undefined` is not node:test's default (no timeout): leave it out.
      const limits = options.timeoutMs === undefined ? {} : { timeout: options.timeoutMs };
      nodeIt(name, limits, async () => {
        try {
          await fn();
        } catch (err) {
          const extra = options.onFailure?.();
          if (extra) console.error(extra);
          console.error(`--- OpenBao log ---\n${state?.bao.log() ?? '(not started)'}`);
          throw err;
        }
      });
    },
    async go(env, argv = PRINT_ENV) {
      return suite.record(await runBundle(ready().bundle, argv, env));
    },
    record(r) {
      runs.push(r);
      return r;
    },
    jwtEnv(extra = {}, addr) {
      return {
        VAULT_ADDR: addr ?? ready().bao.addr,
        VAULT_AUTH_METHOD: 'jwt',
        VAULT_PATH: 'jwt',
        VAULT_ROLE: 'app',
        KUBERNETES_SERVICE_ACCOUNT_TOKEN: suite.jwtFile,
        ...extra,
      };
    },
  };
  return suite;
}
