/**
 * `--tls-auto`: the CA and serving certificate kept in a Secret by the replica holding a Lease
 * (tls/auto/, docs/webhook.md#certificates). Part of the server section.
 */
import { checkNames } from '../tls/authority.ts';
import { policyProblem } from '../tls/auto/schedule.ts';
import type { FlagSpec, Problems } from './flags.ts';
import { E } from './injection.ts';

export interface AutoTlsConfig {
  /** '' when not given: the webhook command fills in the service account's namespace. */
  readonly namespace: string;
  readonly secretName: string;
  readonly leaseName: string;
  readonly webhookConfigName: string;
  readonly service: string;
  readonly extraDnsNames: readonly string[];
  readonly ips: readonly string[];
  readonly servingValidityMs: number;
  readonly caValidityMs: number;
  readonly overlapMs: number;
  readonly identity: string;
}

export const TLS_AUTO_FLAGS = [
  {
    flag: 'tls-auto',
    env: E('TLS_AUTO'),
    default: 'false',
    boolean: true,
    help: 'manage the CA and serving certificate in a Secret, coordinated through a Lease',
  },
  {
    flag: 'tls-auto-namespace',
    env: E('TLS_AUTO_NAMESPACE'),
    default: '',
    help: 'namespace of the Secret and Lease (empty: the namespace of the service account)',
  },
  {
    flag: 'tls-auto-secret',
    env: E('TLS_AUTO_SECRET'),
    default: 'vault-inject-tls',
    help: 'the kubernetes.io/tls Secret holding the CA and serving certificate',
  },
  {
    flag: 'tls-auto-lease',
    env: E('TLS_AUTO_LEASE'),
    default: 'vault-inject-certificates',
    help: 'the coordination.k8s.io Lease naming the replica that rotates',
  },
  {
    flag: 'tls-auto-webhook-config',
    env: E('TLS_AUTO_WEBHOOK_CONFIG'),
    default: 'vault-inject',
    help: 'the MutatingWebhookConfiguration whose caBundle is kept (empty: none)',
  },
  {
    flag: 'tls-auto-service',
    env: E('TLS_AUTO_SERVICE'),
    default: 'vault-inject',
    help: 'the Service the API server calls: its DNS names go into the certificate',
  },
  {
    flag: 'tls-auto-dns',
    env: E('TLS_AUTO_DNS'),
    default: '',
    repeatable: true,
    help: 'an extra DNS name in the serving certificate (repeatable; comma list in the variable)',
  },
  {
    flag: 'tls-auto-ip',
    env: E('TLS_AUTO_IP'),
    default: '',
    repeatable: true,
    help: 'an extra IP address in the serving certificate (repeatable; comma list in the variable)',
  },
  {
    flag: 'tls-auto-serving-validity',
    env: E('TLS_AUTO_SERVING_VALIDITY'),
    default: '2160h',
    help: 'lifetime of a serving certificate; renewed two thirds through',
  },
  {
    flag: 'tls-auto-ca-validity',
    env: E('TLS_AUTO_CA_VALIDITY'),
    default: '26280h',
    help: 'lifetime of the CA; replaced two thirds through, trusted alongside the old one meanwhile',
  },
  {
    flag: 'tls-auto-overlap',
    env: E('TLS_AUTO_OVERLAP'),
    default: '1m',
    help: 'during a CA change, how long each step waits for replicas and the API server to follow',
  },
  {
    flag: 'tls-auto-identity',
    env: E('TLS_AUTO_IDENTITY'),
    default: '',
    help: 'this replica in the Lease (empty: host name and a random suffix)',
  },
] as const satisfies readonly FlagSpec[];

type Name = (typeof TLS_AUTO_FLAGS)[number]['flag'];

function checkAuto(p: Problems<Name>, auto: AutoTlsConfig): void {
  for (const name of ['tls-auto-secret', 'tls-auto-lease', 'tls-auto-service'] as const) {
    if (p.text(name) === '') p.add(name, 'must not be empty');
  }
  const durations = [auto.servingValidityMs, auto.caValidityMs, auto.overlapMs];
  const problem = durations.some(Number.isNaN) ? undefined : policyProblem(auto);
  if (problem) p.addText(`--tls-auto-*: ${problem}`);
  try {
    checkNames({ dnsNames: auto.extraDnsNames, ips: auto.ips });
  } catch (err) {
    p.addText(`--tls-auto-dns/--tls-auto-ip: ${(err as Error).message}`);
  }
}

/** The `--tls-auto` settings, or undefined without `--tls-auto`. */
export function readAutoTls(p: Problems<Name>): AutoTlsConfig | undefined {
  if (!p.bool('tls-auto')) return undefined;
  const auto: AutoTlsConfig = {
    namespace: p.text('tls-auto-namespace'),
    secretName: p.text('tls-auto-secret'),
    leaseName: p.text('tls-auto-lease'),
    webhookConfigName: p.text('tls-auto-webhook-config'),
    service: p.text('tls-auto-service'),
    extraDnsNames: Object.freeze(p.list('tls-auto-dns')),
    ips: Object.freeze(p.list('tls-auto-ip')),
    servingValidityMs: p.duration('tls-auto-serving-validity'),
    caValidityMs: p.duration('tls-auto-ca-validity'),
    overlapMs: p.duration('tls-auto-overlap'),
    identity: p.text('tls-auto-identity'),
  };
  checkAuto(p, auto);
  return Object.freeze(auto);
}
