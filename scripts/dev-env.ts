/**
 * The local real stack for a person, in the background (scripts/dev-env.sh wraps this):
 *
 *   node scripts/dev-env.ts up     start etcd, kube-apiserver, OpenBao, the built webhook and the
 *                                  real node (kubelet, containerd, runc, a local registry);
 *                                  print `export` lines (already up: just print them), PATH
 *                                  first with the stack's own bao, kubectl and helm
 *   node scripts/dev-env.ts env    print the `export` lines of the running stack
 *   node scripts/dev-env.ts down   stop every process it started (by process group), put back what
 *                                  the node changed on the machine, remove its files
 *
 * State (pids, ports, logs, kubeconfig) lives in $VAULT_INJECT_DEV_ENV_DIR, default
 * ${XDG_RUNTIME_DIR:-/tmp}/vault-inject-dev-env, outside the repository.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { restoreHost } from '../test/env/node-host.ts';
import { BUSYBOX_IMAGE } from '../test/env/node-images.ts';
import { startStack } from '../test/env/stack.ts';

interface State {
  readonly pids: number[];
  readonly dir: string;
  /** The node's own directory (outside `dir`): what it changed on the machine is restored from it. */
  readonly nodeDir?: string;
  readonly exports: Record<string, string>;
  /** Directories of the stack's own `bao`, `kubectl` and `helm`, put before the caller's PATH. */
  readonly path?: readonly string[];
}

/** The component binaries a person uses against the stack (`scripts/components.sh --env`). */
const TOOLS = ['VAULT_INJECT_BAO', 'VAULT_INJECT_KUBECTL', 'VAULT_INJECT_HELM'];

const stateDir =
  process.env['VAULT_INJECT_DEV_ENV_DIR'] ??
  path.join(process.env['XDG_RUNTIME_DIR'] ?? '/tmp', 'vault-inject-dev-env');
const stateFile = path.join(stateDir, 'state.json');

/**
 * True while `pid` runs. A zombie does not: the servers outlive `up`, so their parent is PID 1,
 * which may reap them only seconds after they exit (and `down` would wait for that).
 */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

async function readState(): Promise<State | undefined> {
  if (!existsSync(stateFile)) return undefined;
  return JSON.parse(await readFile(stateFile, 'utf8')) as State;
}

const quote = (value: string): string => `'${value.replace(/'/g, `'\\''`)}'`;

function printExports(state: State): void {
  for (const [name, value] of Object.entries(state.exports)) {
    process.stdout.write(`export ${name}=${quote(value)}\n`);
  }
  if (state.path?.length) {
    process.stdout.write(`export PATH=${quote(state.path.join(':'))}"\${PATH:+:$PATH}"\n`);
  }
}

async function up(): Promise<void> {
  const existing = await readState();
  if (existing && existing.pids.every(alive)) {
    process.stderr.write(`dev-env: already running (state in ${stateDir})\n`);
    printExports(existing);
    return;
  }
  if (existing) await down();
  await mkdir(stateDir, { recursive: true });
  const started = performance.now();
  const stack = await startStack({
    persistent: true,
    baseDir: stateDir,
    auditLog: true,
    node: true,
  });
  try {
    const ns = await stack.appNamespace('dev');
    const kubeconfig = await stack.kube.writeKubeconfig(path.join(stack.dir, 'kubeconfig'));
    const node = stack.node;
    if (!node) throw new Error('the stack started without its node');
    const state: State = {
      pids: [
        ...stack.kube.processes,
        stack.bao.process,
        ...node.processes,
        stack.webhook.process,
      ].map((p) => p.pid),
      dir: stack.dir,
      nodeDir: node.dir,
      path: [
        ...new Set(
          TOOLS.map((v) => process.env[v])
            .filter((p): p is string => p !== undefined && p !== '')
            .map((p) => path.dirname(p)),
        ),
      ],
      exports: {
        VAULT_ADDR: stack.bao.addr,
        VAULT_TOKEN: stack.bao.token,
        BAO_ADDR: stack.bao.addr,
        BAO_TOKEN: stack.bao.token,
        KUBECONFIG: kubeconfig,
        VAULT_INJECT_NAMESPACE: ns,
        VAULT_INJECT_WEBHOOK_URL: stack.webhook.url,
        VAULT_INJECT_WEBHOOK_TELEMETRY: stack.webhook.telemetryUrl,
        VAULT_INJECT_NODE: node.name,
        VAULT_INJECT_BUSYBOX_IMAGE: BUSYBOX_IMAGE,
        VAULT_INJECT_DEV_ENV_LOGS: stack.dir,
      },
    };
    await writeFile(stateFile, JSON.stringify(state, null, 2));
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    process.stderr.write(
      `dev-env: up in ${seconds} s. Namespace ${ns} (Pod Security restricted) has service account ` +
        `"app" bound to Vault role "app" (audience vault; reads secret/ and kv/, transit key "app", ` +
        `PKI role "app", password policy "app"). Node ${node.name} (pods set nodeName; images ` +
        `${BUSYBOX_IMAGE} and the init image come from its registry ${node.registry}). ` +
        `Logs: ${stack.dir}, ${node.dir}\n`,
    );
    printExports(state);
  } catch (err) {
    await stack.stop();
    throw err;
  }
}

async function waitGone(pid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (!alive(pid)) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return !alive(pid);
}

async function down(): Promise<void> {
  const state = await readState();
  if (!state) {
    process.stderr.write('dev-env: not running\n');
    return;
  }
  // Reverse start order: the webhook, the node's kubelet, containerd, forwarder and registry,
  // OpenBao, the apiserver, then etcd. Each is a group leader.
  for (const pid of [...state.pids].reverse()) {
    if (!alive(pid)) continue;
    process.kill(-pid, 'SIGTERM');
    if (!(await waitGone(pid, 10_000))) process.kill(-pid, 'SIGKILL');
  }
  if (state.nodeDir !== undefined) {
    // The containers, mounts, cgroups, bridge, forwarding rules, sysctls and host paths.
    const problems = restoreHost(state.nodeDir);
    for (const p of problems) process.stderr.write(`dev-env: not restored: ${p}\n`);
    await rm(state.nodeDir, { recursive: true, force: true });
  }
  await rm(state.dir, { recursive: true, force: true });
  await rm(stateFile, { force: true });
  process.stderr.write('dev-env: stopped\n');
}

async function env(): Promise<void> {
  const state = await readState();
  if (!state || !state.pids.every(alive)) {
    process.stderr.write('dev-env: not running (scripts/dev-env.sh up)\n');
    process.exitCode = 1;
    return;
  }
  printExports(state);
}

const commands: Record<string, () => Promise<void>> = { up, down, env };
const command = commands[process.argv[2] ?? ''];
if (!command) {
  process.stderr.write('usage: scripts/dev-env.sh up|env|down\n');
  process.exit(2);
}
try {
  await command();
  // The servers are detached; nothing of this process must keep running.
  process.exit(process.exitCode ?? 0);
} catch (err) {
  process.stderr.write(`dev-env: ${(err as Error).message}\n`);
  process.exit(1);
}
