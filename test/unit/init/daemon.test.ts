// Daemon mode's schedule (init-binary/src/daemon.ts) on mocked timers: when the token and leases
// are renewed, when the app gets SIGTERM and SIGKILL. The real thing, against OpenBao, is in
// test/integration/init/daemon.test.ts.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import { leaseRenewables, supervise, type Renewable } from '../../../init-binary/src/daemon.ts';
import type { Logger } from '../../../init-binary/src/log.ts';

interface FakeApp {
  readonly app: { child: ChildProcess; exited: Promise<number> };
  readonly signals: string[];
  exit(code: number): void;
}

function fakeApp(): FakeApp {
  const signals: string[] = [];
  let exit: (code: number) => void = () => undefined;
  const exited = new Promise<number>((r) => (exit = r));
  const child = {
    kill: (signal: string) => {
      signals.push(signal);
      return true;
    },
  } as unknown as ChildProcess;
  return { app: { child, exited }, signals, exit: (code) => exit(code) };
}

function logger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const add = (level: string) => (m: string) => void lines.push(`${level}: ${m}`);
  return { lines, debug: add('debug'), info: add('info'), warn: add('warn'), error: add('error') };
}

/** Lets the renewals' promises settle (setImmediate is not mocked). */
const settle = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
};

/** Advances mocked time by `ms`, in steps, letting promises settle in between. */
async function advance(ms: number, step = 100): Promise<void> {
  for (let t = 0; t < ms; t += step) {
    mock.timers.tick(Math.min(step, ms - t));
    await settle();
  }
}

describe('supervise (mocked timers)', () => {
  beforeEach(() => mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 0 }));
  afterEach(() => mock.timers.reset());

  it('renews the token at two thirds of its TTL, again and again, and signals nothing', async () => {
    const { app, signals, exit } = fakeApp();
    const renewedAt: number[] = [];
    const token: Renewable = {
      label: 'token',
      ttlSeconds: 30,
      renew: async () => {
        renewedAt.push(Date.now());
        return 30;
      },
    };
    const code = supervise({ app, log: logger(), renewables: [token] });
    await advance(19_900);
    assert.deepEqual(renewedAt, []);
    await advance(100);
    assert.deepEqual(renewedAt, [20_000]);
    await advance(40_000);
    assert.deepEqual(renewedAt, [20_000, 40_000, 60_000]);
    assert.deepEqual(signals, []);
    exit(0);
    assert.equal(await code, 0);
  });

  it('at the max TTL: SIGTERM at two thirds of what is left, SIGKILL after the grace period', async () => {
    const { app, signals, exit } = fakeApp();
    const log = logger();
    const token: Renewable = { label: 'token', ttlSeconds: 30, renew: async () => 9 };
    const code = supervise({ app, log, renewables: [token], graceMs: 5000 });
    await advance(20_000); // renewed, capped at 9s
    assert.deepEqual(signals, []);
    await advance(6000); // 2/3 of 9s
    assert.deepEqual(signals, ['SIGTERM']);
    await advance(4900);
    assert.deepEqual(signals, ['SIGTERM']);
    await advance(100);
    assert.deepEqual(signals, ['SIGTERM', 'SIGKILL']);
    assert.ok(
      log.lines.some((l) => /warn: the token reaches its max TTL; stopping the app/.test(l)),
    );
    exit(137);
    assert.equal(await code, 137);
  });

  it('a renewal answering no TTL stops the app at once; an app that exits in time gets no SIGKILL', async () => {
    const { app, signals, exit } = fakeApp();
    const code = supervise({
      app,
      log: logger(),
      renewables: [{ label: 'lease 1', ttlSeconds: 3, renew: async () => 0 }],
      graceMs: 5000,
    });
    await advance(2000);
    assert.deepEqual(signals, ['SIGTERM']);
    exit(7);
    assert.equal(await code, 7);
    await advance(10_000);
    assert.deepEqual(signals, ['SIGTERM'], 'the SIGKILL timer is cleared when the app exits');
  });

  it('a lease that cannot be renewed: expiry is its max TTL', async () => {
    const { app, signals, exit } = fakeApp();
    const renew = mock.fn(async () => 60);
    const renewables = leaseRenewables(
      [
        { id: 'pki/issue/app/abc', ttlSeconds: 60, renewable: false },
        { id: 'db/creds/app/def', ttlSeconds: 600, renewable: true },
      ],
      renew,
    );
    assert.deepEqual(
      renewables.map((r) => [r.label, r.ttlSeconds, r.renew !== undefined]),
      [
        ['lease 1', 60, false],
        ['lease 2', 600, true],
      ],
    );
    const code = supervise({ app, log: logger(), renewables });
    await advance(39_900);
    assert.deepEqual(signals, []);
    await advance(100);
    assert.deepEqual(signals, ['SIGTERM']);
    assert.equal(renew.mock.callCount(), 0);
    exit(143);
    assert.equal(await code, 143);
  });

  it('failed renewals are retried while time is left, then the app is stopped before expiry', async () => {
    const { app, signals, exit } = fakeApp();
    const log = logger();
    const renew = mock.fn(async (): Promise<number> => {
      throw Object.assign(new Error('down'), { code: 'E_UNAVAILABLE' });
    });
    const code = supervise({
      app,
      log,
      renewables: [{ label: 'token', ttlSeconds: 60, renew }],
    });
    await advance(60_000);
    assert.ok(renew.mock.callCount() >= 3, `renewals tried: ${renew.mock.callCount()}`);
    assert.deepEqual(signals, ['SIGTERM']);
    assert.ok(log.lines.some((l) => /could not renew the token \(E_UNAVAILABLE\)/.test(l)));
    assert.ok(log.lines.some((l) => /the token expires; stopping the app/.test(l)));
    exit(0);
    assert.equal(await code, 0);
  });
});

describe('supervise (real timers)', () => {
  it('a year-long certificate does not stop the app at once (timers beyond 24.8 days)', async () => {
    const { app, signals, exit } = fakeApp();
    const year = 365 * 24 * 3600;
    const code = supervise({
      app,
      log: logger(),
      renewables: [{ label: 'lease 1', ttlSeconds: year }],
    });
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(signals, []);
    exit(0);
    assert.equal(await code, 0);
  });
});
