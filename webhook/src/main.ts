/**
 * `vault-inject`: the only place that reads argv and the environment, handles signals and exits.
 *
 *   vault-inject webhook [flags]          the admission server (docs/configuration.md)
 *   vault-inject mutate -f FILE|- [-o yaml|json|patch] [flags]   the offline preview
 *   vault-inject certs --service S --namespace N [--out-dir D] [--secret S] [--webhook-config W]
 *
 * Exit codes: 0 success; 1 a document could not be previewed; 2 bad flags or configuration;
 * 70 an unexpected failure.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import pino, { type Logger } from 'pino';
import { runCerts } from './cli/certs.ts';
import { preview, type OutputFormat } from './cli/mutate.ts';
import { startWebhook } from './cli/webhook.ts';
import {
  injectionConfig,
  parseConfig,
  parseDuration,
  readFlags,
  type Config,
  type FlagSpec,
} from './config.ts';
import { ErrorCode, WebhookError, isWebhookError } from './errors.ts';
import { KubeConfig } from '@kubernetes/client-node';
import { kubernetesPullSecretReader } from './k8s/pull-secrets.ts';
import { kubernetesSourceReader } from './k8s/sources.ts';
import type { SourceReader } from './mutation/sources.ts';
import type { PullSecretReader } from './registry/oci/seam.ts';
import { CertificateObjects } from './tls/auto/kube.ts';
import { VERSION } from './version.ts';

const USAGE = `vault-inject ${VERSION}: inject Vault/OpenBao secrets into Pods at process start

usage:
  vault-inject webhook [--tls-cert-file F --tls-key-file F | --tls-auto | --self-signed] [flags]
  vault-inject mutate -f FILE|- [-o yaml|json|patch] [injection flags]
  vault-inject certs --service S --namespace N [--out-dir D] [--secret S] [--webhook-config W]
  vault-inject --version

Every flag also reads from an environment variable; see docs/configuration.md.
`;

type Env = Readonly<Record<string, string | undefined>>;

const PREVIEW_FLAGS: readonly FlagSpec[] = [
  { flag: 'filename', env: '', default: '', help: 'input file, - for stdin' },
  { flag: 'output', env: '', default: 'yaml', help: 'yaml, json or patch' },
];

function expandShortFlags(argv: readonly string[]): string[] {
  return argv.map((a) => (a === '-f' ? '--filename' : a === '-o' ? '--output' : a));
}

async function readInput(file: string): Promise<string> {
  if (file !== '-') return readFile(file, 'utf8');
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function runMutate(argv: readonly string[], env: Env): Promise<number> {
  const { flags } = readFlags(expandShortFlags(argv), env, PREVIEW_FLAGS);
  const file = flags.filename ?? '';
  const format = flags.output ?? 'yaml';
  if (file === '')
    throw new WebhookError(ErrorCode.CONFIG, 'mutate needs -f FILE (or -f - for stdin)');
  if (format !== 'yaml' && format !== 'json' && format !== 'patch') {
    throw new WebhookError(ErrorCode.CONFIG, `-o: "${format}" is not yaml, json or patch`);
  }
  let input: string;
  try {
    input = await readInput(file);
  } catch (cause) {
    throw new WebhookError(ErrorCode.CONFIG, `cannot read ${file}: ${(cause as Error).message}`, {
      cause,
    });
  }
  const result = await preview(input, format as OutputFormat, injectionConfig(flags));
  process.stdout.write(result.stdout);
  for (const line of result.stderr) process.stderr.write(`${line}\n`);
  return result.exitCode;
}

const CERTS_FLAGS: readonly FlagSpec[] = [
  { flag: 'service', env: '', default: '', help: 'the webhook Service' },
  { flag: 'namespace', env: '', default: '', help: "its namespace (and the Secret's)" },
  { flag: 'dns', env: '', default: '', repeatable: true, help: 'an extra DNS name' },
  { flag: 'ip', env: '', default: '', repeatable: true, help: 'an extra IP address' },
  { flag: 'out-dir', env: '', default: '', help: 'write ca.crt, ca.key, tls.crt, tls.key here' },
  { flag: 'secret', env: '', default: '', help: 'write this kubernetes.io/tls Secret' },
  { flag: 'webhook-config', env: '', default: '', help: 'set the caBundle of this configuration' },
  { flag: 'validity', env: '', default: '8760h', help: 'serving certificate lifetime' },
  { flag: 'ca-validity', env: '', default: '87600h', help: 'CA lifetime' },
  {
    flag: 'renew',
    env: '',
    default: 'false',
    boolean: true,
    help: 'issue a new serving certificate',
  },
];

function certsDuration(flags: Readonly<Record<string, string>>, name: string): number {
  const ms = parseDuration(flags[name] ?? '');
  if (ms === undefined || ms <= 0) {
    throw new WebhookError(ErrorCode.CONFIG, `--${name}: "${flags[name]}" is not a duration`);
  }
  return ms;
}

function listOf(text: string | undefined): string[] {
  return (text ?? '').split(',').filter((s) => s !== '');
}

async function runCertsCommand(argv: readonly string[], env: Env): Promise<number> {
  const known = new Set(CERTS_FLAGS.map((f) => f.flag));
  for (const a of argv) {
    const name = a.startsWith('--') ? a.slice(2).split('=')[0] : undefined;
    if (name && !known.has(name))
      throw new WebhookError(ErrorCode.CONFIG, `unknown flag --${name}`);
  }
  const { flags } = readFlags(argv, env, CERTS_FLAGS);
  const service = flags.service ?? '';
  const namespace = flags.namespace ?? '';
  if (service === '' || namespace === '') {
    throw new WebhookError(ErrorCode.CONFIG, 'certs needs --service and --namespace');
  }
  const options = {
    service,
    namespace,
    dnsNames: listOf(flags.dns),
    ips: listOf(flags.ip),
    outDir: flags['out-dir'] ?? '',
    secretName: flags.secret ?? '',
    webhookConfigName: flags['webhook-config'] ?? '',
    servingValidityMs: certsDuration(flags, 'validity'),
    caValidityMs: certsDuration(flags, 'ca-validity'),
    renew: flags.renew === 'true',
  };
  let objects: CertificateObjects | undefined;
  if (options.secretName !== '' || options.webhookConfigName !== '') {
    const kc = new KubeConfig();
    kc.loadFromDefault();
    objects = new CertificateObjects(kc, namespace);
  }
  const lines = await runCerts(options, objects);
  process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}

const SERVICE_ACCOUNT_NAMESPACE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

/** `--tls-auto`: the namespace (flag, else the pod's service account, else the kubeconfig's). */
async function autoTls(
  config: Config,
  kubeConfig: KubeConfig | undefined,
): Promise<{ objects: CertificateObjects; identity: string } | undefined> {
  const auto = config.server.auto;
  if (!auto || !kubeConfig) return undefined;
  let namespace = auto.namespace;
  if (namespace === '') {
    namespace = (await readFile(SERVICE_ACCOUNT_NAMESPACE, 'utf8').catch(() => '')).trim();
  }
  if (namespace === '')
    namespace = kubeConfig.getContextObject(kubeConfig.currentContext)?.namespace ?? '';
  if (namespace === '') {
    throw new WebhookError(ErrorCode.CONFIG, '--tls-auto-namespace: not set and not found');
  }
  const identity = auto.identity || `${hostname()}-${randomBytes(4).toString('hex')}`;
  return { objects: new CertificateObjects(kubeConfig, namespace), identity };
}

function loadKubeConfig(logger: Logger): KubeConfig | undefined {
  try {
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromDefault();
    return kubeConfig;
  } catch (err) {
    logger.warn(
      { reason: (err as Error).message },
      'no Kubernetes API access: valueFrom/envFrom not inspected, imagePullSecrets not read',
    );
    return undefined;
  }
}

async function runWebhook(argv: readonly string[], env: Env): Promise<number> {
  const config = parseConfig(readFlags(argv, env).flags);
  const logger = pino({ level: config.logLevel });
  // Kubernetes reads are bounded so that the worst case (a source read, then the service account
  // and the pull secrets one after the other, then the registry) ends inside the review's deadline.
  const deadline = config.server.requestDeadlineMs;
  const kubeConfig = loadKubeConfig(logger);
  const tls = await autoTls(config, kubeConfig);
  let sources: SourceReader | undefined;
  let secrets: PullSecretReader | undefined;
  if (kubeConfig) {
    if (config.server.readSources)
      sources = kubernetesSourceReader({ timeoutMs: Math.min(2000, deadline / 2), kubeConfig });
    secrets = kubernetesPullSecretReader({
      timeoutMs: Math.min(1000, deadline / 8),
      kubeConfig,
      onSkip: (skipped) => logger.warn(skipped, 'image pull secret not read'),
    });
  }
  const running = await startWebhook({
    config,
    logger,
    ...(sources ? { sources } : {}),
    ...(secrets ? { secrets } : {}),
    ...(tls ? { autoTls: tls } : {}),
    defaultMetrics: true,
  });
  return new Promise((resolve) => {
    let stopping = false;
    const stop = (signal: string): void => {
      if (stopping) return;
      stopping = true;
      logger.info({ signal }, 'signal received');
      running.stop().then(
        () => resolve(0),
        (err: unknown) => {
          logger.error({ reason: (err as Error).message }, 'shutdown failed');
          resolve(70);
        },
      );
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}

async function main(argv: readonly string[], env: Env): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'webhook':
      return runWebhook(rest, env);
    case 'mutate':
      return runMutate(rest, env);
    case 'certs':
      return runCertsCommand(rest, env);
    case '--version':
    case 'version':
      process.stdout.write(`${VERSION}\n`);
      return 0;
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      return command === undefined ? 2 : 0;
    default:
      process.stderr.write(`vault-inject: unknown command "${command}"\n\n${USAGE}`);
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
