// Refresh (init-binary/src/refresh.ts, refresh-cache.ts, refresh-app.ts) on fakes for time, Vault
// and the app: what is read again and what is kept, when a write is re-issued, which files are
// rewritten, the signal or restart chosen, the backoff after failures, the old files kept. The
// real thing, against OpenBao, is in test/integration/init/refresh.test.ts.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { describe, it } from 'node:test';
import { parseConfig } from '../../../init-binary/src/config.ts';
import { ConfigError, UnavailableError } from '../../../init-binary/src/errors.ts';
import type { Logger } from '../../../init-binary/src/log.ts';
import {
  backoffMs,
  changedEnv,
  changedFiles,
  nextDelayMs,
  reloadAction,
  startRefresh,
  type Clock,
  type Rendered,
} from '../../../init-binary/src/refresh.ts';
import { managedApp } from '../../../init-binary/src/refresh-app.ts';
import {
  reissueDelayMs,
  secretCache,
  writeKeysOf,
} from '../../../init-binary/src/refresh-cache.ts';
import type { ResolveResult, Secret, SecretApi } from '../../../init-binary/src/resolve.ts';
import { parseValue } from '../../../init-binary/src/contract/references.ts';
import type { Reference } from '../../../init-binary/src/resolve.ts';
import type { RunningApp } from '../../../init-binary/src/exec.ts';

const CANARY = `canary-${process.pid}-r3fr35h`;

function logger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const add = (level: string) => (m: string, f?: object) =>
    void lines.push(`${level}: ${m}${f ? ` ${JSON.stringify(f)}` : ''}`);
  return { lines, debug: add('debug'), info: add('info'), warn: add('warn'), error: add('error') };
}

/** A clock whose timers fire only when `advance` says so. */
function fakeClock(): Clock & { advance(ms: number): Promise<void>; pending(): number[] } {
  let now = 0;
  let timers: { at: number; fn: () => void; id: number }[] = [];
  let next = 0;
  return {
    now: () => now,
    setTimer: (ms, fn) => {
      const id = next++;
      timers.push({ at: now + ms, fn, id });
      return id;
    },
    clearTimer: (id) => void (timers = timers.filter((t) => t.id !== id)),
    pending: () => timers.map((t) => t.at - now),
    async advance(ms) {
      const until = now + ms;
      for (;;) {
        const due = timers.filter((t) => t.at <= until).sort((a, b) => a.at - b.at)[0];
        if (!due) break;
        timers = timers.filter((t) => t !== due);
        now = due.at;
        due.fn();
        for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
      }
      now = until;
    },
  };
}

const env = (entries: Record<string, string>): ResolveResult => ({
  values: new Map(Object.entries(entries)),
  skipped: [],
  leases: [],
});
const rendered = (e: Record<string, string>, files: Record<string, string>): Rendered => ({
  env: env(e),
  contents: new Map(Object.entries(files)),
});

describe('what changed, and what the app is told', () => {
  it('names new and changed files; a file left out keeps its old one', () => {
    const before = new Map([
      ['a', '1'],
      ['b', '2'],
      ['c', '3'],
    ]);
    const after = new Map([
      ['a', '1'],
      ['b', 'two'],
      ['d', '4'],
    ]);
    assert.deepEqual(changedFiles(before, after), ['b', 'd']);
  });

  it('names variables that changed, appeared or went away', () => {
    assert.deepEqual(changedEnv(env({ A: '1', B: '2', C: '3' }), env({ A: '1', B: 'x', D: '4' })), [
      'B',
      'C',
      'D',
    ]);
  });

  it('chooses the signal for files, a restart for anything, and names env needing a restart', () => {
    const hup = { kind: 'signal', signal: 'SIGHUP' } as const;
    const cases = [
      { reload: hup, files: ['f'], env: [], action: 'signal', need: [] },
      { reload: hup, files: [], env: ['E'], action: 'none', need: ['E'] },
      { reload: hup, files: ['f'], env: ['E'], action: 'signal', need: ['E'] },
      { reload: { kind: 'restart' }, files: [], env: ['E'], action: 'restart', need: [] },
      { reload: { kind: 'restart' }, files: ['f'], env: [], action: 'restart', need: [] },
      { reload: { kind: 'restart' }, files: [], env: [], action: 'none', need: [] },
      { reload: { kind: 'none' }, files: ['f'], env: ['E'], action: 'none', need: ['E'] },
    ] as const;
    for (const c of cases) {
      const got = reloadAction(c.reload, c.files, c.env);
      assert.equal(got.action.kind, c.action, JSON.stringify(c));
      assert.deepEqual(got.needRestart, c.need, JSON.stringify(c));
    }
  });
});

describe('schedule', () => {
  it('backs off from 1s, doubling, capped, with jitter between half and all of it', () => {
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6, 7, 8].map((n) => backoffMs(n, 60_000, () => 1)),
      [1000, 2000, 4000, 8000, 16_000, 32_000, 60_000, 60_000],
    );
    assert.equal(
      backoffMs(3, 60_000, () => 0),
      2000,
    );
    assert.equal(
      backoffMs(10, 5000, () => 1),
      5000,
    );
    assert.equal(
      backoffMs(1000, 60_000, () => 1),
      60_000,
    );
  });

  it('refreshes at the interval, sooner when a write is due, never without either', () => {
    assert.equal(nextDelayMs(100, 30_000, undefined), 30_000);
    assert.equal(nextDelayMs(100, 30_000, 10_100), 10_000);
    assert.equal(nextDelayMs(100, 30_000, 50), 0);
    assert.equal(nextDelayMs(100, undefined, 5100), 5000);
    assert.equal(nextDelayMs(100, undefined, undefined), undefined);
  });

  it("re-issues at two thirds of a lease or a certificate's expiration, the sooner", () => {
    const lease = { id: 'l', ttlSeconds: 30, renewable: false };
    assert.equal(reissueDelayMs({ data: {}, lease }, 0), 20_000);
    assert.equal(reissueDelayMs({ data: { expiration: 1030 } }, 1_000_000), 20_000);
    assert.equal(reissueDelayMs({ data: { expiration: 1090 }, lease }, 1_000_000), 20_000);
    assert.equal(reissueDelayMs({ data: { expiration: 1001 } }, 1_000_000), 1000, 'at least 1s');
    assert.equal(reissueDelayMs({ data: { expiration: 'soon' } }, 0), undefined);
    assert.equal(reissueDelayMs({ data: {} }, 0), undefined);
  });
});

/** A Vault whose calls are counted; each read of `kv` gives its current value. */
function fakeVault() {
  const calls: string[] = [];
  const state = { kv: 'v1', serial: 0 };
  const api: SecretApi = {
    async read(path) {
      calls.push(`read ${path}`);
      if (path === 'database/creds/app') {
        return {
          data: { u: `u${++state.serial}` },
          lease: { id: 'db', ttlSeconds: 60, renewable: true },
        };
      }
      return { data: { k: state.kv } };
    },
    async write(path) {
      calls.push(`write ${path}`);
      const serial = ++state.serial;
      return {
        data: { certificate: `cert-${serial}`, expiration: 1000 + 30 },
        lease: { id: `pki-${serial}`, ttlSeconds: 30, renewable: false },
      } satisfies Secret;
    },
    async decrypt(c) {
      calls.push('decrypt');
      return c.map(() => 'plain');
    },
  };
  return { api, calls, state };
}

const ref = (name: string, value: string, file?: string): Reference & { file?: string } => {
  const parsed = parseValue(value);
  assert.notEqual(parsed.kind, 'plain');
  return { name, parsed: parsed as Reference['parsed'], ...(file ? { file } : {}) };
};

describe('the cache a daemon resolves through', () => {
  it('reads a KV path every time, keeps a dynamic secret and a transit plaintext', async () => {
    const v = fakeVault();
    let now = 0;
    const c = secretCache(v.api, { reissue: new Set(), now: () => now });
    for (let i = 0; i < 3; i++) {
      await c.api.read('secret/app');
      await c.api.read('database/creds/app');
      await c.api.decrypt(['vault:v1:x']);
      now += 60_000;
    }
    assert.deepEqual(v.calls, [
      'read secret/app',
      'read database/creds/app',
      'decrypt',
      'read secret/app',
      'read secret/app',
    ]);
    assert.equal(c.nextDue(), undefined);
  });

  it('asks each later round through a fresh api (the session caches reads per resolution)', async () => {
    const first = fakeVault();
    const later = fakeVault();
    later.state.kv = 'v2';
    const c = secretCache(first.api, { reissue: new Set(), now: () => 0, fresh: () => later.api });
    assert.deepEqual((await c.api.read('secret/app'))?.data, { k: 'v1' });
    c.nextRound();
    assert.deepEqual((await c.api.read('secret/app'))?.data, { k: 'v2' });
    assert.deepEqual([first.calls.length, later.calls.length], [1, 1]);
  });

  it('re-issues a write it was asked to at two thirds of its lifetime, keeps the others', async () => {
    const v = fakeVault();
    let now = 0;
    const refs = [
      ref('FILE', '${>>vault:pki/issue/r#certificate#{"common_name":"a.example.test"}}', 'tls.crt'),
    ];
    const reissue = writeKeysOf(refs);
    assert.equal(reissue.size, 1);
    const c = secretCache(v.api, { reissue, now: () => now, wallNow: () => 1_000_000 });
    const first = await c.api.write('pki/issue/r', { common_name: 'a.example.test' });
    await c.api.write('pki/issue/other', { common_name: 'b' });
    assert.equal(c.nextDue(), 20_000);
    assert.deepEqual([...c.reissuedLeaseIds()], [first.lease?.id]);
    now = 19_999;
    assert.equal(
      (await c.api.write('pki/issue/r', { common_name: 'a.example.test' })).data['certificate'],
      'cert-1',
    );
    now = 20_000;
    assert.equal(
      (await c.api.write('pki/issue/r', { common_name: 'a.example.test' })).data['certificate'],
      'cert-3',
    );
    assert.equal(
      (await c.api.write('pki/issue/other', { common_name: 'b' })).data['certificate'],
      'cert-2',
    );
    assert.equal(c.nextDue(), 40_000);
  });
});

interface Harness {
  readonly clock: ReturnType<typeof fakeClock>;
  readonly log: ReturnType<typeof logger>;
  readonly written: [string, string][];
  readonly signals: string[];
  readonly restarts: ResolveResult[];
  next: Rendered | Error;
  failWrite: boolean;
  stop(): void;
}

function harnessFor(
  reload: Parameters<typeof startRefresh>[0]['reload'],
  initial: Rendered,
  intervalMs: number | 'none' = 10_000,
  due: () => number | undefined = () => undefined,
): Harness {
  const h = {
    clock: fakeClock(),
    log: logger(),
    written: [] as [string, string][],
    signals: [] as string[],
    restarts: [] as ResolveResult[],
    next: initial as Rendered | Error,
    failWrite: false,
    stop: (): void => undefined,
  };
  const r = startRefresh({
    intervalMs: intervalMs === 'none' ? undefined : intervalMs,
    reload,
    initial,
    render: async () => {
      if (h.next instanceof Error) throw h.next;
      return h.next;
    },
    writeFile: (file, content) => {
      if (h.failWrite)
        throw new ConfigError(`vault-inject.dev/secret-file-${file}: cannot write (ENOSPC)`);
      h.written.push([file, content]);
    },
    app: { signal: (s) => void h.signals.push(s), restart: (v) => void h.restarts.push(v) },
    nextDue: due,
    log: h.log,
    clock: h.clock,
    random: () => 1,
  });
  h.stop = () => r.stop();
  return h;
}

describe('startRefresh (fake clock, Vault and files)', () => {
  it('rewrites a changed file at the interval and sends the signal; nothing when unchanged', async () => {
    const h = harnessFor(
      { kind: 'signal', signal: 'SIGHUP' },
      rendered({}, { a: CANARY, b: 'same' }),
    );
    await h.clock.advance(10_000);
    assert.deepEqual(h.written, []);
    assert.deepEqual(h.signals, []);
    h.next = rendered({}, { a: `${CANARY}-2`, b: 'same' });
    await h.clock.advance(9_999);
    assert.deepEqual(h.written, [], 'not before the interval');
    await h.clock.advance(1);
    assert.deepEqual(h.written, [['a', `${CANARY}-2`]]);
    assert.deepEqual(h.signals, ['SIGHUP']);
    await h.clock.advance(10_000);
    assert.deepEqual(h.signals, ['SIGHUP'], 'once per change');
    assert.doesNotMatch(h.log.lines.join('\n'), new RegExp(CANARY));
    h.stop();
  });

  it('logs a changed env value as needing a restart, names only; restart mode restarts', async () => {
    const signal = harnessFor({ kind: 'signal', signal: 'SIGUSR1' }, rendered({ P: CANARY }, {}));
    signal.next = rendered({ P: `${CANARY}-2` }, {});
    await signal.clock.advance(10_000);
    assert.deepEqual(signal.signals, []);
    assert.deepEqual(signal.restarts, []);
    assert.ok(
      signal.log.lines.some((l) => /^warn: environment values changed \(P\); .*restart/.test(l)),
    );
    assert.doesNotMatch(signal.log.lines.join('\n'), new RegExp(CANARY));
    signal.stop();

    const restart = harnessFor({ kind: 'restart' }, rendered({ P: CANARY }, { f: 'x' }));
    restart.next = rendered({ P: `${CANARY}-2` }, { f: 'x' });
    await restart.clock.advance(10_000);
    assert.equal(restart.restarts.length, 1);
    assert.equal(restart.restarts[0]?.values.get('P'), `${CANARY}-2`);
    assert.deepEqual(restart.written, []);
    restart.stop();
  });

  it('keeps the files and the app when Vault fails, logs one line, retries with backoff', async () => {
    const h = harnessFor({ kind: 'signal', signal: 'SIGHUP' }, rendered({}, { a: 'old' }), 30_000);
    h.next = new UnavailableError('P: Vault at http://127.0.0.1:1 did not answer within 1s');
    await h.clock.advance(30_000);
    assert.deepEqual(h.clock.pending(), [1000]);
    await h.clock.advance(1000);
    assert.deepEqual(h.clock.pending(), [2000]);
    await h.clock.advance(2000);
    assert.deepEqual(h.clock.pending(), [4000]);
    assert.deepEqual(h.written, []);
    assert.deepEqual(h.signals, []);
    const warns = h.log.lines.filter((l) => l.startsWith('warn: refresh failed'));
    assert.equal(warns.length, 3);
    assert.match(
      warns[0] ?? '',
      /^warn: refresh failed: P: Vault at .* did not answer within 1s; the files and the app are kept, next try in 1s$/,
    );
    h.next = rendered({}, { a: 'new' });
    await h.clock.advance(4000);
    assert.deepEqual(h.written, [['a', 'new']]);
    assert.deepEqual(h.clock.pending(), [30_000], 'back to the interval after a success');
    h.stop();
  });

  it('an unknown error is logged by its code only (never its message)', async () => {
    const h = harnessFor({ kind: 'none' }, rendered({}, { a: 'old' }));
    h.next = Object.assign(new Error(`leaked ${CANARY}`), { code: 'ECONNRESET' });
    await h.clock.advance(10_000);
    assert.ok(h.log.lines.some((l) => l.startsWith('warn: refresh failed: ECONNRESET;')));
    assert.doesNotMatch(h.log.lines.join('\n'), new RegExp(CANARY));
    h.stop();
  });

  it('a failed write keeps the old file, tells the app nothing, and tries again', async () => {
    const h = harnessFor({ kind: 'signal', signal: 'SIGHUP' }, rendered({}, { a: 'old' }));
    h.next = rendered({}, { a: 'new' });
    h.failWrite = true;
    await h.clock.advance(10_000);
    assert.deepEqual(h.written, []);
    assert.deepEqual(h.signals, []);
    assert.deepEqual(h.clock.pending(), [1000]);
    h.failWrite = false;
    await h.clock.advance(1000);
    assert.deepEqual(h.written, [['a', 'new']]);
    assert.deepEqual(h.signals, ['SIGHUP']);
    h.stop();
  });

  it('without an interval, wakes only when a write is due; stop ends it', async () => {
    let due: number | undefined = 20_000;
    const h = harnessFor(
      { kind: 'signal', signal: 'SIGHUP' },
      rendered({}, { crt: 'c1' }),
      'none',
      () => due,
    );
    assert.deepEqual(h.clock.pending(), [20_000]);
    h.next = rendered({}, { crt: 'c2' });
    due = 40_000;
    await h.clock.advance(20_000);
    assert.deepEqual(h.written, [['crt', 'c2']]);
    assert.deepEqual(h.clock.pending(), [20_000]);
    h.stop();
    assert.deepEqual(h.clock.pending(), []);
    const idle = harnessFor({ kind: 'none' }, rendered({}, {}), 'none');
    assert.deepEqual(idle.clock.pending(), [], 'nothing to refresh: no timer');
  });
});

function fakeChild(name: string, log: string[]) {
  let exit: (code: number) => void = () => undefined;
  const exited = new Promise<number>((r) => (exit = r));
  const child = {
    exitCode: null as number | null,
    signalCode: null,
    kill(signal: string) {
      log.push(`${name} ${signal}`);
      return true;
    },
  };
  const app: RunningApp = { child: child as unknown as ChildProcess, exited };
  return {
    app,
    exit(code: number) {
      child.exitCode = code;
      exit(code);
    },
  };
}

const settle = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
};

describe('managedApp', () => {
  it('restarts: SIGTERM, SIGKILL after the grace, then the new app with the new values', async () => {
    const events: string[] = [];
    const first = fakeChild('first', events);
    const second = fakeChild('second', events);
    const clock = fakeClock();
    const started: ResolveResult[] = [];
    const m = managedApp({
      first: first.app,
      log: logger(),
      clock,
      graceMs: 5000,
      onStopSignal: () => () => undefined,
      start: (v) => {
        started.push(v);
        return second.app;
      },
    });
    m.restart(env({ P: 'new' }));
    assert.deepEqual(events, ['first SIGTERM']);
    await clock.advance(5000);
    assert.deepEqual(events, ['first SIGTERM', 'first SIGKILL']);
    first.exit(137);
    await settle();
    assert.equal(started[0]?.values.get('P'), 'new');
    assert.equal(m.child, second.app.child);
    m.signal('SIGHUP');
    assert.deepEqual(events.at(-1), 'second SIGHUP');
    second.exit(3);
    assert.equal(await m.exited, 3, "the new app's exit code is ours");
  });

  it('a stop signal during a restart: the app is not started again', async () => {
    const events: string[] = [];
    const first = fakeChild('first', events);
    let stop: () => void = () => undefined;
    let started = 0;
    const m = managedApp({
      first: first.app,
      log: logger(),
      clock: fakeClock(),
      onStopSignal: (fn) => {
        stop = fn;
        return () => undefined;
      },
      start: () => {
        started++;
        return first.app;
      },
    });
    m.restart(env({}));
    stop();
    first.exit(143);
    assert.equal(await m.exited, 143);
    assert.equal(started, 0);
  });

  it('an app that exits on its own ends the daemon with its code', async () => {
    const first = fakeChild('first', []);
    const m = managedApp({ first: first.app, log: logger(), start: () => first.app });
    first.exit(9);
    assert.equal(await m.exited, 9);
  });
});

describe('refresh settings (config.ts)', () => {
  const base = { VAULT_ADDR: 'http://127.0.0.1:8200' };
  it('any of them implies daemon mode; an explicit VAULT_ENV_DAEMON=false is refused', () => {
    const c = parseConfig({ ...base, VAULT_INJECT_REFRESH_INTERVAL: '30s' });
    assert.equal(c.daemon, true);
    assert.equal(c.refresh.intervalMs, 30_000);
    assert.deepEqual(c.refresh.reload, { kind: 'none' });
    assert.equal(parseConfig({ ...base, VAULT_INJECT_RELOAD: 'restart' }).daemon, true);
    assert.deepEqual(parseConfig({ ...base, VAULT_INJECT_RELOAD: 'signal' }).refresh.reload, {
      kind: 'signal',
      signal: 'SIGHUP',
    });
    assert.deepEqual(parseConfig({ ...base, VAULT_INJECT_RELOAD_SIGNAL: 'usr1' }).refresh.reload, {
      kind: 'signal',
      signal: 'SIGUSR1',
    });
    assert.equal(parseConfig(base).daemon, false);
    assert.throws(
      () => parseConfig({ ...base, VAULT_ENV_DAEMON: 'false', VAULT_INJECT_RELOAD: 'restart' }),
      /VAULT_ENV_DAEMON is false, but a refresh setting needs daemon mode/,
    );
  });

  it('names the variable of a bad value', () => {
    const bad: [Record<string, string>, RegExp][] = [
      [
        { VAULT_INJECT_REFRESH_INTERVAL: '500ms' },
        /VAULT_INJECT_REFRESH_INTERVAL "500ms" is shorter than 1s/,
      ],
      [
        { VAULT_INJECT_REFRESH_INTERVAL: 'soon' },
        /VAULT_INJECT_REFRESH_INTERVAL "soon" is not a positive duration/,
      ],
      [
        { VAULT_INJECT_RELOAD: 'reboot' },
        /VAULT_INJECT_RELOAD "reboot" is not one of signal, restart/,
      ],
      [
        { VAULT_INJECT_RELOAD_SIGNAL: 'SIGKILL' },
        /VAULT_INJECT_RELOAD_SIGNAL "SIGKILL" is not one of SIGHUP/,
      ],
      [
        { VAULT_INJECT_RELOAD: 'restart', VAULT_INJECT_RELOAD_SIGNAL: 'HUP' },
        /VAULT_INJECT_RELOAD: restart does not send a reload signal/,
      ],
    ];
    for (const [e, message] of bad) {
      assert.throws(
        () => parseConfig({ ...base, ...e }),
        (err: unknown) => err instanceof ConfigError && message.test(err.message),
      );
    }
  });
});
