/**
 * `vault-inject certs`: the CA and serving certificate of the webhook Service, by hand. Writes
 * them to files (`--out-dir`), to a `kubernetes.io/tls` Secret (`--secret`, with `ca.crt` and
 * `ca.key`, the layout `--tls-auto` uses, so a webhook can take over from here) and the CA into
 * every webhook of a MutatingWebhookConfiguration (`--webhook-config`).
 *
 * Idempotent: what is already there (the Secret, else the files) is kept while it is valid,
 * names the same Service, IPs and DNS names, and is not two thirds through its lifetime. A CA that
 * is replaced stays in `ca.crt` until it expires, so the certificate still served meanwhile stays
 * trusted. Output names certificates by fingerprint and expiry; a private key only ever goes to a
 * file or the Secret.
 */
import { KubeConfig } from '@kubernetes/client-node';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Problems, readArgs, type FlagSpec } from '../config/flags.ts';
import {
  certFacts,
  checkNames,
  createAuthority,
  issueServing,
  joinPem,
  serviceDnsNames,
  type ServingNames,
} from '../tls/authority.ts';
import { CertificateObjects, type StoredSecret } from '../tls/auto/kube.ts';
import { renewAt } from '../tls/auto/schedule.ts';
import { EMPTY, SECRET_KEYS, parseContent, type SecretContent } from '../tls/auto/state.ts';
import { ErrorCode, WebhookError } from '../errors.ts';
import type { Command, Env } from './command.ts';

export interface CertsOptions {
  readonly service: string;
  readonly namespace: string;
  readonly dnsNames: readonly string[];
  readonly ips: readonly string[];
  readonly outDir: string;
  readonly secretName: string;
  readonly webhookConfigName: string;
  readonly servingValidityMs: number;
  readonly caValidityMs: number;
  /** Issue a new serving certificate even when the current one is fine. */
  readonly renew: boolean;
}

export interface Plan {
  readonly content: SecretContent;
  readonly caCreated: boolean;
  readonly servingIssued: boolean;
}

/** What to keep and what to make, from what exists (`EMPTY` when nothing does). */
export async function planCertificates(
  existing: SecretContent,
  names: ServingNames,
  options: Pick<CertsOptions, 'servingValidityMs' | 'caValidityMs' | 'renew'>,
  now = Date.now(),
): Promise<Plan> {
  const parsed = parseContent(existing, names);
  const { view } = parsed;
  let signer = parsed.signer;
  let caBundle = existing.caBundle;
  let caCreated = false;
  if (!signer || !view.signer || now >= renewAt(view.signer.notAfter, options.caValidityMs)) {
    signer = await createAuthority({ validityMs: options.caValidityMs, now });
    const kept = parsed.trusted.filter((c) => c.notAfter > now).map((c) => c.pem);
    caBundle = joinPem([signer.cert, ...kept]);
    caCreated = true;
  }
  const s = view.serving;
  const keep =
    !caCreated &&
    !options.renew &&
    s !== undefined &&
    s.keyMatches &&
    s.coversNames &&
    s.issuer === view.signer?.fingerprint &&
    now < renewAt(s.notAfter, options.servingValidityMs);
  if (keep) return { content: { ...existing, caBundle }, caCreated, servingIssued: false };
  const pair = await issueServing({
    ca: signer,
    names,
    validityMs: options.servingValidityMs,
    now,
  });
  return {
    content: {
      caBundle,
      caKey: signer.key,
      ...pair,
      caAddedAt: caCreated ? now : (existing.caAddedAt ?? now),
      servingIssuedAt: now,
    },
    caCreated,
    servingIssued: true,
  };
}

const FILES = [
  { key: 'caBundle', file: SECRET_KEYS.caBundle, mode: 0o644 },
  { key: 'caKey', file: SECRET_KEYS.caKey, mode: 0o600 },
  { key: 'cert', file: SECRET_KEYS.cert, mode: 0o644 },
  { key: 'key', file: SECRET_KEYS.key, mode: 0o600 },
] as const;

async function readDir(dir: string): Promise<SecretContent> {
  const read = (f: string): Promise<string> => readFile(path.join(dir, f), 'utf8').catch(() => '');
  const [caBundle, caKey, cert, key] = await Promise.all(FILES.map((f) => read(f.file)));
  return { caBundle: caBundle ?? '', caKey: caKey ?? '', cert: cert ?? '', key: key ?? '' };
}

async function writeDir(dir: string, content: SecretContent): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const written: string[] = [];
  for (const f of FILES) {
    const file = path.join(dir, f.file);
    await writeFile(file, content[f.key], { mode: f.mode });
    written.push(file);
  }
  return written;
}

function describe(label: string, pem: string, what: string): string {
  const facts = certFacts(pem);
  if (!facts) return `${label}: none`;
  return `${label} ${what}: ${facts.fingerprint} expires ${new Date(facts.notAfter).toISOString()}`;
}

function same(a: SecretContent, b: SecretContent): boolean {
  return a.caBundle === b.caBundle && a.caKey === b.caKey && a.cert === b.cert && a.key === b.key;
}

async function publish(
  options: CertsOptions,
  objects: CertificateObjects,
  content: SecretContent,
  stored: StoredSecret | undefined,
): Promise<string[]> {
  const lines: string[] = [];
  // Trust first: the caBundle only ever gains a CA here, before a certificate from it is out.
  if (options.webhookConfigName !== '') {
    const changed = await objects.patchCaBundle(options.webhookConfigName, content.caBundle);
    const state = changed ? 'updated' : 'unchanged';
    lines.push(`caBundle of MutatingWebhookConfiguration ${options.webhookConfigName}: ${state}`);
  }
  if (options.secretName !== '') {
    const where = `Secret ${options.namespace}/${options.secretName}`;
    if (stored && same(stored.content, content)) lines.push(`${where}: unchanged`);
    else {
      await objects.writeSecret(options.secretName, content, stored);
      lines.push(`${where}: ${stored ? 'updated' : 'created'}`);
    }
  }
  return lines;
}

function checkDestinations(options: CertsOptions, objects: CertificateObjects | undefined): void {
  const needsApi = options.secretName !== '' || options.webhookConfigName !== '';
  if (needsApi && !objects) {
    throw new WebhookError(ErrorCode.CONFIG, '--secret/--webhook-config need a Kubernetes API');
  }
  if (!needsApi && options.outDir === '') {
    throw new WebhookError(
      ErrorCode.CONFIG,
      'say where to: --out-dir, --secret or --webhook-config',
    );
  }
}

/** What exists: the Secret, else the files, else nothing. */
async function existing(
  options: CertsOptions,
  objects: CertificateObjects | undefined,
): Promise<{ stored: StoredSecret | undefined; content: SecretContent }> {
  const stored =
    options.secretName !== '' ? await objects?.readSecret(options.secretName) : undefined;
  if (stored) return { stored, content: stored.content };
  return { stored, content: options.outDir !== '' ? await readDir(options.outDir) : EMPTY };
}

/** Runs the command; returns the lines for stdout. `objects` is needed for --secret/--webhook-config. */
async function runCerts(
  options: CertsOptions,
  objects: CertificateObjects | undefined,
): Promise<string[]> {
  const names: ServingNames = {
    dnsNames: serviceDnsNames(options.service, options.namespace, options.dnsNames),
    ips: options.ips,
  };
  checkNames(names);
  checkDestinations(options, objects);
  const before = await existing(options, objects);
  const plan = await planCertificates(before.content, names, options);
  const { content } = plan;
  const lines = [
    describe('CA', content.caBundle, plan.caCreated ? 'created' : 'kept'),
    describe('serving certificate', content.cert, plan.servingIssued ? 'issued' : 'kept'),
    `  names: ${[...names.dnsNames, ...names.ips].join(', ')}`,
  ];
  if (objects) lines.push(...(await publish(options, objects, content, before.stored)));
  if (options.outDir !== '') {
    const files = await writeDir(options.outDir, content);
    lines.push(`wrote ${files.join(', ')}`);
  }
  return lines;
}

export const CERTS_FLAGS = [
  { flag: 'service', env: '', default: '', help: 'the webhook Service (required)' },
  { flag: 'namespace', env: '', default: '', help: "its namespace, and the Secret's (required)" },
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
] as const satisfies readonly FlagSpec[];

type Name = (typeof CERTS_FLAGS)[number]['flag'];

/** Flags to options, naming every bad one at once. */
function certsOptions(argv: readonly string[], env: Env): CertsOptions {
  const { flags } = readArgs(CERTS_FLAGS, argv, env);
  const p = new Problems<Name>(flags);
  const service = p.text('service');
  const namespace = p.text('namespace');
  if (service === '' || namespace === '') p.addText('certs needs --service and --namespace');
  const options: CertsOptions = {
    service,
    namespace,
    dnsNames: p.list('dns'),
    ips: p.list('ip'),
    outDir: p.text('out-dir'),
    secretName: p.text('secret'),
    webhookConfigName: p.text('webhook-config'),
    servingValidityMs: p.positiveDuration('validity'),
    caValidityMs: p.positiveDuration('ca-validity'),
    renew: p.bool('renew'),
  };
  p.throwIfAny();
  return options;
}

export const certsCommand: Command = {
  name: 'certs',
  usage:
    'vault-inject certs --service S --namespace N [--out-dir D] [--secret S] [--webhook-config W]',
  summary:
    'Creates or renews the CA and serving certificate of the webhook Service, into files, a Secret\n' +
    'and the caBundle of a MutatingWebhookConfiguration. Idempotent.',
  flags: [{ title: 'flags', flags: CERTS_FLAGS }],
  notes: 'Writing to the cluster uses KUBECONFIG or the in-cluster configuration.',
  async run(argv, env) {
    const options = certsOptions(argv, env);
    let objects: CertificateObjects | undefined;
    if (options.secretName !== '' || options.webhookConfigName !== '') {
      const kc = new KubeConfig();
      kc.loadFromDefault();
      objects = new CertificateObjects(kc, options.namespace);
    }
    const lines = await runCerts(options, objects);
    process.stdout.write(`${lines.join('\n')}\n`);
    return 0;
  },
};
