/**
 * `vault-inject`: the only place that reads argv and the environment and exits. Each subcommand
 * lives in cli/ with its flags; `--help` on any of them lists every flag with its default and
 * environment variable.
 *
 *   vault-inject webhook [flags]          the admission server (docs/configuration.md)
 *   vault-inject mutate -f FILE|- [-o yaml|json|patch] [flags]   the offline preview
 *   vault-inject certs --service S --namespace N [--out-dir D] [--secret S] [--webhook-config W]
 *
 * Exit codes: 0 success; 1 a document could not be previewed; 2 bad flags or configuration;
 * 70 an unexpected failure.
 */
import { certsCommand } from './cli/certs.ts';
import { commandHelp, wantsHelp, type Command, type Env } from './cli/command.ts';
import { mutateCommand } from './cli/mutate.ts';
import { webhookCommand } from './cli/webhook.ts';
import { ErrorCode, isWebhookError } from './errors.ts';
import { VERSION } from './version.ts';

const COMMANDS: readonly Command[] = [webhookCommand, mutateCommand, certsCommand];

const USAGE = `vault-inject ${VERSION}: inject Vault/OpenBao secrets into Pods at process start

usage:
${COMMANDS.map((c) => `  ${c.usage}`).join('\n')}
  vault-inject --version
  vault-inject COMMAND --help     every flag of COMMAND, its default and environment variable

Every flag of webhook and mutate also reads from an environment variable; see docs/configuration.md.
`;

/** `vault-inject --help`: the usage, then every command's flags. */
function fullHelp(): string {
  const sections = COMMANDS.map((c) => `\n== vault-inject ${c.name} ==\n${commandHelp(c)}`);
  return `${USAGE}${sections.join('')}`;
}

async function main(argv: readonly string[], env: Env): Promise<number> {
  const [name, ...rest] = argv;
  const command = COMMANDS.find((c) => c.name === name);
  if (command) {
    if (!wantsHelp(rest)) return command.run(rest, env);
    process.stdout.write(commandHelp(command));
    return 0;
  }
  switch (name) {
    case '--version':
    case 'version':
      process.stdout.write(`${VERSION}\n`);
      return 0;
    case undefined:
      process.stdout.write(USAGE);
      return 2;
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(fullHelp());
      return 0;
    default:
      process.stderr.write(`vault-inject: unknown command "${name}"\n\n${USAGE}`);
      return 2;
  }
}

main(process.argv.slice(2), process.env).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (isWebhookError(err)) {
      process.stderr.write(`vault-inject: ${err.message}\n`);
      process.exitCode = err.code === ErrorCode.CONFIG ? 2 : 70;
    } else {
      process.stderr.write(
        `vault-inject: unexpected failure: ${(err as Error).stack ?? String(err)}\n`,
      );
      process.exitCode = 70;
    }
    // A start that failed half way (e.g. its port taken after the telemetry server listened)
    // must not leave a process that looks alive but serves nothing.
    process.exit();
  },
);
