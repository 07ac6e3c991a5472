// Daemon mode of the BUILT bundle against a real OpenBao dev server on loopback: the token renewed
// until its max TTL, then the app stopped (SIGTERM; SIGKILL after the grace period when it ignores
// SIGTERM), a lease that cannot be renewed treated the same way, signals forwarded to the app, and
// the exit code passed through; and a renewable lease (OpenBao's database engine over a real
// PostgreSQL on loopback) renewed until its max TTL. These tests wait for real TTLs (seconds);
// bounds are generous.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe } from 'node:test';
import { logText, parseOutput, startBundle, type Run, type RunningBundle } from './bundle.ts';
import { openBaoSuite } from './harness.ts';
import { postgresBin, startPostgres, type Postgres } from './postgres.ts';

const CANARY = `canary-${process.pid}-d43m0n`;

let approle: { roleId: string; secretId: string };

const s = openBaoSuite({
  canary: CANARY,
  setUp: async (bao) => {
    await bao.api('POST', 'secret/data/app', { data: { user: 'alice', password: CANARY } });
    // A token that lives 2s and can be renewed up to 6s after login.
    await bao.api('POST', 'auth/approle/role/short', {
      token_policies: ['app'],
      token_ttl: '2s',
      token_max_ttl: '6s',
    });
    const roleId = (await bao.api('GET', 'auth/approle/role/short/role-id'))['data'] as {
      role_id: string;
    };
    const secretId = (await bao.api('POST', 'auth/approle/role/short/secret-id', {}))['data'] as {
      secret_id: string;
    };
    approle = { roleId: roleId.role_id, secretId: secretId.secret_id };
    // Certificates with a lease (PKI leases cannot be renewed) that expires after 3s.
    await bao.api('POST', 'pki/roles/short', {
      allowed_domains: 'example.test',
      allow_subdomains: true,
      generate_lease: true,
      ttl: '3s',
      max_ttl: '3s',
    });
  },
  timeoutMs: 120_000,
  checkRun: (r) => {
    assert.doesNotMatch(r.stderr, /pki\/issue\/short\/[0-9a-f-]{8,}/, 'a lease id reached stderr');
    assert.doesNotMatch(r.stderr, /database\/creds\/app\/\w{8,}/, 'a lease id reached stderr');
  },
});
const { it } = s;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Asks the server `look` every 250 ms while the daemon runs (60 s at most: the bundle is killed
 * then anyway); a failed look (the token or lease expired, revoked) records nothing. The run,
 * recorded for the checks after the test.
 */
async function whileRunning(run: RunningBundle, look: () => Promise<void>): Promise<Run> {
  let ended = false;
  void run.done.then(() => (ended = true));
  const until = performance.now() + 60_000;
  while (!ended && performance.now() < until) {
    await look().catch(() => undefined);
    await sleep(250);
  }
  return s.record(await run.done);
}

/** An app that prints its PID and environment, then READY, and loops; `traps` come first. */
function app(traps: string): string[] {
  return ['/bin/sh', '-c', `${traps} echo "PID=$$"; env; echo READY; while :; do sleep 0.1; done`];
}

function rootEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    VAULT_ADDR: s.bao.addr,
    VAULT_AUTH_METHOD: 'token',
    VAULT_TOKEN: s.bao.rootToken,
    VAULT_ENV_DAEMON: 'true',
    U: 'vault:secret/app#user',
    P: 'vault:secret/app#password',
    ...extra,
  };
}

it("keeps the app's loader, glibc and Node settings away from our runtime and gives them back", async () => {
  const appSettings = {
    GLIBC_TUNABLES: 'glibc.malloc.arena_max=1',
    MALLOC_ARENA_MAX: '1',
    LD_BIND_NOW: '1',
    NODE_OPTIONS: '--max-old-space-size=16',
  };
  const run = startBundle(s.bundle, app(''), rootEnv(appSettings));
  await run.waitFor(/^READY$/m);
  // The environment the launcher exec'd our Node with (the init program stays our PID in daemon
  // mode): the app's settings only under the hidden prefix.
  const ours = readFileSync(`/proc/${run.pid}/environ`, 'utf8').split('\0');
  run.signal('SIGTERM');
  s.record(await run.done);
  for (const [name, value] of Object.entries(appSettings)) {
    assert.ok(!ours.some((e) => e.startsWith(`${name}=`)), `${name} reached our runtime`);
    assert.ok(ours.includes(`VAULT_INJECT_HIDDEN_${name}=${value}`), `${name} not hidden`);
  }
  const { env } = parseOutput(run.stdout());
  for (const [name, value] of Object.entries(appSettings)) assert.equal(env[name], value, name);
  assert.ok(!Object.keys(env).some((n) => n.startsWith('VAULT_INJECT_HIDDEN_')));
});

describe('daemon mode against OpenBao', () => {
  it('renews the token until its max TTL, then stops the app with SIGTERM and exits with its code', async () => {
    const run = startBundle(s.bundle, app('trap "echo GOT_TERM; exit 7" TERM;'), {
      VAULT_ADDR: s.bao.addr,
      VAULT_AUTH_METHOD: 'approle',
      VAULT_PATH: 'approle',
      VAULT_ROLE_ID: approle.roleId,
      VAULT_SECRET_ID: approle.secretId,
      VAULT_ENV_DAEMON: 'true',
      VAULT_LOG_LEVEL: 'debug',
      // The app gets the daemon's token, so the test can look it up on the server.
      VAULT_TOKEN: 'vault:login',
      U: 'vault:secret/app#user',
      P: 'vault:secret/app#password',
    });
    await run.waitFor(/^READY$/m);
    const { env, appPid } = parseOutput(run.stdout());
    assert.equal(env['U'], 'alice');
    assert.equal(env['P'], CANARY);
    assert.notEqual(appPid, run.pid, 'in daemon mode the app is a child');
    assert.deepEqual(
      Object.keys(env).filter((k) => k.startsWith('VAULT_')),
      ['VAULT_ADDR', 'VAULT_TOKEN'].sort(),
      'only the vault:login settings reach the app',
    );
    const token = env['VAULT_TOKEN'] ?? '';

    // What the server says about the token while the daemon runs.
    const seen: { atMs: number; ttl: number; lastRenewal: unknown }[] = [];
    const r = await whileRunning(run, async () => {
      const data = (await s.bao.api('POST', 'auth/token/lookup', { token }))['data'] as {
        ttl: number;
        last_renewal_time?: unknown;
      };
      seen.push({
        atMs: performance.now() - run.started,
        ttl: data.ttl,
        lastRenewal: data.last_renewal_time,
      });
    });

    assert.equal(r.code, 7, r.stderr);
    assert.match(r.stdout, /^GOT_TERM$/m);
    const renewals = new Set(seen.map((s) => s.lastRenewal).filter((t) => t != null));
    assert.ok(renewals.size >= 2, `renewals seen by the server: ${renewals.size}`);
    assert.ok(
      seen.some((s) => s.atMs > 3000 && s.ttl > 0),
      `the token outlived its first 2s TTL: ${JSON.stringify(seen.map((s) => [Math.round(s.atMs), s.ttl]))}`,
    );
    assert.ok((logText(r.stderr).match(/debug: renewed the token/g) ?? []).length >= 2, r.stderr);
    assert.match(
      logText(r.stderr),
      /warn: the token (reaches its max TTL|can no longer be renewed|expires); stopping the app/,
    );
    assert.ok(r.ms > 3000 && r.ms < 30_000, `ran ${Math.round(r.ms)} ms`);
  });

  it('a lease that cannot be renewed: SIGTERM before it expires, SIGKILL after the grace period when ignored', async () => {
    const run = startBundle(s.bundle, app('trap "echo IGNORED_TERM" TERM;'), {
      ...rootEnv(),
      CERT: '>>vault:pki/issue/short#certificate#{"common_name":"app.example.test"}',
    });
    await run.waitFor(/^READY$/m);
    assert.match(parseOutput(run.stdout()).env['CERT'] ?? '', /^-----BEGIN CERTIFICATE-----/);
    await run.waitFor(/^IGNORED_TERM$/m, 20_000);
    const termAt = performance.now() - run.started;
    const r = await run.done;
    s.record(r);
    assert.equal(r.code, 128 + 9, r.stderr); // SIGKILL
    assert.match(logText(r.stderr), /info: the lease 1 cannot be renewed and expires in [23]s/);
    assert.match(
      logText(r.stderr),
      /warn: the lease 1 cannot be renewed and expires; stopping the app/,
    );
    // SIGTERM at about 2s (2/3 of 3s), SIGKILL 10s later.
    assert.ok(termAt < 10_000, `SIGTERM after ${Math.round(termAt)} ms`);
    assert.ok(r.ms - termAt > 9000, `SIGKILL ${Math.round(r.ms - termAt)} ms after SIGTERM`);
  });

  it('forwards SIGHUP, SIGINT and SIGTERM to the app and exits with its code', async () => {
    const run = startBundle(
      s.bundle,
      app(
        'trap "echo GOT_HUP" HUP; trap "echo GOT_INT" INT; trap "echo GOT_USR1" USR1; trap "echo GOT_TERM; exit 9" TERM;',
      ),
      rootEnv(),
    );
    await run.waitFor(/^READY$/m);
    for (const [signal, line] of [
      ['SIGHUP', /^GOT_HUP$/m],
      ['SIGINT', /^GOT_INT$/m],
      ['SIGUSR1', /^GOT_USR1$/m],
    ] as const) {
      run.signal(signal);
      await run.waitFor(line, 10_000);
    }
    run.signal('SIGTERM');
    const r = await run.done;
    s.record(r);
    assert.equal(r.code, 9, r.stderr);
    assert.match(r.stdout, /^GOT_TERM$/m);
    assert.equal(parseOutput(r.stdout).env['U'], 'alice');
  });

  it('exits 128+N when the app dies of a forwarded signal N', async () => {
    const run = startBundle(
      s.bundle,
      ['/bin/sh', '-c', 'echo READY; exec sleep 60'],
      rootEnv({ VAULT_LOG_LEVEL: 'debug' }),
    );
    await run.waitFor(/^READY$/m);
    run.signal('SIGTERM');
    const r = await run.done;
    s.record(r);
    assert.equal(r.code, 128 + 15, r.stderr);
  });
});

describe('daemon mode: a renewable lease from the database engine', () => {
  let pg: Postgres | undefined;

  before(async () => {
    pg = await startPostgres(await postgresBin());
    await s.bao.api('POST', 'sys/mounts/database', { type: 'database' });
    await s.bao.api('POST', 'database/config/pg', {
      plugin_name: 'postgresql-database-plugin',
      connection_url: pg.connectionUrl,
      username: 'postgres',
      password: 'unused-with-trust',
      allowed_roles: ['app'],
      verify_connection: true,
    });
    // Credentials that live 2s and can be renewed up to 6s after they were issued.
    await s.bao.api('POST', 'database/roles/app', {
      db_name: 'pg',
      creation_statements: [
        `CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';`,
      ],
      default_ttl: '2s',
      max_ttl: '6s',
    });
  });
  after(async () => {
    await pg?.stop();
  });

  it('renews the lease until its max TTL, seen by the server, then stops the app with SIGTERM', async () => {
    const run = startBundle(s.bundle, app('trap "echo GOT_TERM; exit 7" TERM;'), {
      ...rootEnv({ VAULT_LOG_LEVEL: 'debug' }),
      // One read for both keys: one database user, one lease.
      DB_USER: 'vault:database/creds/app#username',
      DB_URL:
        'postgresql://${vault:database/creds/app#username}:${vault:database/creds/app#password}@127.0.0.1/postgres',
    });
    await run.waitFor(/^READY$/m);
    const { env } = parseOutput(run.stdout());
    const user = env['DB_USER'] ?? '';
    assert.match(user, /^v-\w+/);
    assert.ok(env['DB_URL']?.startsWith(`postgresql://${user}:`), 'both keys from one read');

    const listed = (await s.bao.api('GET', 'sys/leases/lookup/database/creds/app/?list=true'))[
      'data'
    ] as { keys: string[] };
    assert.equal(listed.keys.length, 1, 'one lease: the path was read once');
    const leaseId = `database/creds/app/${listed.keys[0] ?? ''}`;

    const renewals = new Set<unknown>();
    const r = await whileRunning(run, async () => {
      const data = (await s.bao.api('POST', 'sys/leases/lookup', { lease_id: leaseId }))[
        'data'
      ] as { last_renewal?: unknown };
      if (data.last_renewal != null) renewals.add(data.last_renewal);
    });

    assert.equal(r.code, 7, r.stderr);
    assert.match(r.stdout, /^GOT_TERM$/m);
    assert.ok(renewals.size >= 2, `renewals seen by the server: ${renewals.size}`);
    assert.ok((logText(r.stderr).match(/debug: renewed the lease 1/g) ?? []).length >= 2, r.stderr);
    assert.match(
      logText(r.stderr),
      /warn: the lease 1 (reaches its max TTL|can no longer be renewed|expires); stopping the app/,
    );
    assert.ok(r.ms > 3000 && r.ms < 30_000, `ran ${Math.round(r.ms)} ms`);
  });
});
