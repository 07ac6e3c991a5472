// The arithmetic of `make bench` (scripts/bench/stats.ts): no timing here, only what the numbers
// are made of, so that a wrong ratio, round order or /proc parse fails a test rather than a report.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  compareLine,
  cpuMsPer,
  grows,
  median,
  parseProcStat,
  parseProcStatus,
  parseStamp,
  quantile,
  ratio,
  roundOrder,
  slope,
} from '../../../scripts/bench/stats.ts';
import { shippedEnv, shippedNodeFlags } from '../../../scripts/bench/servers.ts';

describe('bench statistics', () => {
  it('quantiles by nearest rank, median the middle (mean of two), input untouched', () => {
    const xs = [5, 1, 4, 2, 3];
    assert.equal(median(xs), 3);
    assert.equal(quantile(xs, 0.9), 5);
    assert.equal(quantile(xs, 0), 1);
    assert.deepEqual(xs, [5, 1, 4, 2, 3]);
    assert.equal(median([20, 10]), 15);
    assert.equal(median([4, 1, 3, 2]), 2.5);
    assert.ok(Number.isNaN(median([])));
  });

  it('ABBA round order: each side first as often as second', () => {
    const firsts = Array.from({ length: 8 }, (_, r) => roundOrder(r, true)[0]);
    assert.deepEqual(firsts, [
      'ours',
      'theirs',
      'theirs',
      'ours',
      'ours',
      'theirs',
      'theirs',
      'ours',
    ]);
    for (let r = 0; r < 8; r++)
      assert.deepEqual([...roundOrder(r, true)].sort(), ['ours', 'theirs']);
    assert.deepEqual(roundOrder(3, false), ['ours']);
  });

  it('ratio is ours over theirs, absent without a usable peer number', () => {
    assert.equal(ratio(52.4, 26.2), 2);
    assert.equal(ratio(1, undefined), undefined);
    assert.equal(ratio(1, 0), undefined);
    assert.equal(ratio(1, NaN), undefined);
    assert.equal(ratio(NaN, 1), undefined);
  });

  it('compare line names both sides and the ratio, or says the peer is missing', () => {
    assert.equal(
      compareLine('reviews/s', { ours: 3000, theirs: 2000 }, 'reviews/s', 0),
      'reviews/s: ours 3000 reviews/s; Bank-Vaults 2000 reviews/s; ours/theirs 1.50x',
    );
    assert.equal(
      compareLine('rss', { ours: 100 }, 'MiB'),
      'rss: ours 100.0 MiB; Bank-Vaults: not available',
    );
  });

  it('parses /proc/PID/stat from the last ")" (a command name with spaces and parentheses)', () => {
    // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime
    // cutime cstime priority nice threads itrealvalue starttime vsize rss ...
    const line =
      '4242 (node (x) y) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 7 8 20 0 11 0 1234 987654321 12800 18446744073709551615';
    assert.deepEqual(parseProcStat(line), { cpuTicks: 300, rssPages: 12800 });
    assert.throws(() => parseProcStat('garbage'), /no "\)"/);
    assert.throws(() => parseProcStat('1 (a) S x'), /field 14/);
  });

  it('parses VmRSS, VmHWM, RssAnon and RssFile of /proc/PID/status', () => {
    const status =
      'Name:\tnode\nVmHWM:\t  204800 kB\nVmRSS:\t  102400 kB\nRssAnon:\t   61440 kB\n' +
      'RssFile:\t   40960 kB\nThreads:\t11\n';
    assert.deepEqual(parseProcStatus(status), {
      rssKib: 102400,
      hwmKib: 204800,
      anonKib: 61440,
      fileKib: 40960,
    });
    assert.throws(() => parseProcStatus('Name:\tx\n'), /VmRSS/);
  });

  it('CPU per request from two readings and the clock tick rate', () => {
    const before = { cpuTicks: 1000, rssPages: 0 };
    const after = { cpuTicks: 1250, rssPages: 0 };
    assert.equal(cpuMsPer(before, after, 10_000, 100), 0.25);
    assert.ok(Number.isNaN(cpuMsPer(before, after, 0, 100)));
  });

  it('slope and growth of a memory series', () => {
    const flat = Array.from({ length: 20 }, (_, i) => ({ t: i * 30, value: 100 + (i % 2) }));
    const rising = Array.from({ length: 20 }, (_, i) => ({ t: i * 30, value: 100 + i * 5 }));
    assert.ok(Math.abs(slope(rising) - 5 / 30) < 1e-9);
    assert.ok(Number.isNaN(slope([{ t: 1, value: 1 }])));
    assert.equal(grows(flat, 1).grows, false);
    const r = grows(rising, 1);
    assert.equal(r.grows, true);
    assert.ok(Math.abs(r.perMinute - 10) < 1e-9);
    // A jump at the end with a flat slope elsewhere still counts as growth.
    const jump = [...flat.slice(0, 19), { t: 570, value: 150 }];
    assert.equal(grows(jump, 1000).grows, true);
  });

  it("the init bench's stamp line: clock, peak RSS, CPU time; anything else is no stamp", () => {
    assert.deepEqual(parseStamp('10302754696998 42080 23700\n'), {
      monotonicNs: 10302754696998n,
      maxRssKib: 42080,
      cpuUs: 23700,
    });
    // The clock's nanoseconds stay exact beyond 2^53.
    assert.equal(parseStamp('9007199254740993 1 2')?.monotonicNs, 9007199254740993n);
    assert.equal(parseStamp('10302754696998 42080'), undefined); // the old two-field stamp
    assert.equal(parseStamp('time=... level=INFO msg="spawning process"'), undefined);
    assert.equal(parseStamp(''), undefined);
  });
});

describe('the settings the webhook bench runs ours with', () => {
  it('reads the node flags of the exec-form ENTRYPOINT and the Node/glibc ENV variables', () => {
    const dockerfile = [
      'FROM x',
      'ENV NODE_ENV=production OTHER=1',
      'ENV MALLOC_ARENA_MAX=1',
      'ENTRYPOINT ["/nodejs/bin/node", "--a=1", "--b", "/app/vault-inject.js"]',
      'CMD ["webhook"]',
    ].join('\n');
    assert.deepEqual(shippedNodeFlags(dockerfile), ['--a=1', '--b']);
    assert.deepEqual(shippedEnv(dockerfile), { NODE_ENV: 'production', MALLOC_ARENA_MAX: '1' });
    assert.throws(() => shippedNodeFlags('ENTRYPOINT node app.js'), /no ENTRYPOINT/);
    assert.throws(() => shippedNodeFlags('ENTRYPOINT ["/bin/sh"]'), /runs no \.js/);
  });
});

describe('the webhook image keeps the memory settings measured in docs/benchmarks.md', () => {
  it('runs node with a small young generation, sized for memory, no Maglev, one malloc arena', () => {
    const flags = shippedNodeFlags();
    assert.ok(flags.includes('--max-semi-space-size=2'), flags.join(' '));
    assert.ok(flags.includes('--optimize-for-size'), flags.join(' '));
    assert.ok(flags.includes('--no-maglev'), flags.join(' '));
    assert.equal(shippedEnv()['MALLOC_ARENA_MAX'], '1');
    assert.equal(shippedEnv()['MALLOC_MMAP_THRESHOLD_'], '32768');
  });
});
