/**
 * A test process that dies with the stack running, for cleanup.test.ts (not a test itself):
 * starts the stack under `argv[2]`, prints one JSON line (the stack's directory and the process
 * group of every server), then, by `argv[3]`:
 *   throw   throws (uncaught) when a line arrives on stdin: no `after()`, no `stop()`;
 *   wait    waits to be killed by a signal (the runner's timeout, a Ctrl-C).
 */
import { startStack } from '../../env/stack.ts';

const [baseDir, mode] = process.argv.slice(2);
if (baseDir === undefined || (mode !== 'throw' && mode !== 'wait')) {
  process.stderr.write('usage: node stack-child.ts BASE_DIR throw|wait\n');
  process.exit(2);
}
const stack = await startStack({ baseDir });
const groups = [...stack.kube.processes, stack.bao.process, stack.webhook.process].map((p) => ({
  name: p.name,
  pid: p.pid,
}));
process.stdout.write(`${JSON.stringify({ dir: stack.dir, groups })}\n`);
if (mode === 'throw') {
  process.stdin.once('data', () => {
    throw new Error('a test failed with the stack running');
  });
} else {
  setInterval(() => undefined, 60_000);
}
