// `vault-inject certs` planning (idempotence, renewal, names), the --tls-auto flags, and the
// --tls-auto leader repairing a Secret and caBundle reset from outside (fakes around the API).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { planCertificates } from '../../../webhook/src/cli/certs.ts';
import { parseConfig, readFlags } from '../../../webhook/src/config.ts';
import { certFacts, serviceDnsNames } from '../../../webhook/src/tls/authority.ts';
import type { CertificateObjects, StoredSecret } from '../../../webhook/src/tls/auto/kube.ts';
import { startAutoCertificates } from '../../../webhook/src/tls/auto/manager.ts';
import { EMPTY, parseContent, type SecretContent } from '../../../webhook/src/tls/auto/state.ts';

const names = { dnsNames: serviceDnsNames('vi', 'ns'), ips: ['127.0.0.1'] };
const H = 3600_000;
const long = { servingValidityMs: 8760 * H, caValidityMs: 87600 * H, renew: false };

describe('vault-inject certs: plan', () => {
  it('creates, then keeps what is valid, renews on request, reissues for new names', async () => {
    const first = await planCertificates(EMPTY, names, long);
    assert.ok(first.caCreated && first.servingIssued);
    const v = parseContent(first.content, names).view;
    assert.equal(v.serving?.issuer, v.signer?.fingerprint);
    assert.equal(v.serving?.coversNames, true);

    const again = await planCertificates(first.content, names, long);
    assert.deepEqual([again.caCreated, again.servingIssued], [false, false]);
    assert.deepEqual(again.content, first.content);

    const renewed = await planCertificates(first.content, names, { ...long, renew: true });
    assert.deepEqual([renewed.caCreated, renewed.servingIssued], [false, true]);
    assert.equal(renewed.content.caBundle, first.content.caBundle);
    assert.notEqual(renewed.content.cert, first.content.cert);

    const more = { ...names, dnsNames: [...names.dnsNames, 'extra.example'] };
    const reissued = await planCertificates(first.content, more, long);
    assert.deepEqual([reissued.caCreated, reissued.servingIssued], [false, true]);
    assert.equal(parseContent(reissued.content, more).view.serving?.coversNames, true);
  });

  it('a CA without its key is replaced and stays trusted beside the new one', async () => {
    const first = await planCertificates(EMPTY, names, long);
    const plan = await planCertificates({ ...first.content, caKey: '' }, names, long);
    assert.ok(plan.caCreated && plan.servingIssued);
    const bundle = parseContent(plan.content, names);
    assert.equal(bundle.trusted.length, 2);
    assert.equal(bundle.trusted[1]?.pem, certFacts(first.content.caBundle)?.pem);
  });
});

describe('--tls-auto flags', () => {
  const parse = (argv: string[]): ReturnType<typeof parseConfig> =>
    parseConfig(readFlags(argv, {}).flags);

  it('defaults', () => {
    const auto = parse(['--tls-auto']).server.auto;
    assert.equal(auto?.secretName, 'vault-inject-tls');
    assert.equal(auto?.leaseName, 'vault-inject-certificates');
    assert.equal(auto?.servingValidityMs, 2160 * H);
    assert.equal(auto?.overlapMs, 60_000);
  });

  const bad: [string, string[], RegExp][] = [
    ['with files', ['--tls-auto', '--tls-cert-file=a', '--tls-key-file=b'], /excludes/],
    ['with --self-signed', ['--tls-auto', '--self-signed'], /excludes/],
    ['a CA too short', ['--tls-auto', '--tls-auto-ca-validity=100h'], /three times/],
    ['an overlap too long', ['--tls-auto', '--tls-auto-serving-validity=3m'], /overlap/],
    ['an overlap under two polls', ['--tls-auto', '--tls-auto-overlap=6s'], /twice/],
    ['a bad IP', ['--tls-auto', '--tls-auto-ip=10.0.0'], /not an IP/],
    ['an empty Secret name', ['--tls-auto', '--tls-auto-secret='], /must not be empty/],
  ];
  for (const [name, argv, message] of bad) {
    it(`rejects ${name}`, () => assert.throws(() => parse(argv), message));
  }
});

describe('--tls-auto leader: a Secret or caBundle reset from outside', () => {
  /** The Kubernetes objects as a leader sees them, in memory. */
  function fakeObjects() {
    const state = { secret: { content: EMPTY, object: {} } as StoredSecret, bundle: '', writes: 0 };
    const objects = {
      namespace: 'ns',
      lead: async () => true,
      release: async () => undefined,
      readSecret: async () => state.secret,
      writeSecret: async (_name: string, content: SecretContent) => {
        state.writes++;
        state.secret = { content, object: {} };
        return state.secret;
      },
      patchCaBundle: async (_name: string, bundle: string) => {
        const changed = state.bundle !== bundle;
        state.bundle = bundle;
        return changed;
      },
    };
    return { state, objects: objects as unknown as CertificateObjects };
  }

  it('puts back the pair it serves (same CA), and the caBundle', async () => {
    const { state, objects } = fakeObjects();
    const served: string[] = [];
    const auto = startAutoCertificates({
      objects,
      secretName: 'tls',
      leaseName: 'lease',
      webhookConfigName: 'mwc',
      identity: 'a',
      names,
      policy: { servingValidityMs: 90 * 24 * H, caValidityMs: 3 * 365 * 24 * H, overlapMs: 60_000 },
      intervalMs: 3_600_000,
      logger: pino({ level: 'silent' }),
      onChange: (pair) => served.push(pair.cert),
    });
    try {
      await auto.tick();
      const filled = state.secret.content;
      assert.notEqual(filled.caBundle, '');
      assert.equal(state.bundle, filled.caBundle);
      assert.deepEqual(served, [filled.cert]);

      // A sync writes back the chart's empty Secret and drops the caBundle.
      state.secret = { content: EMPTY, object: {} };
      state.bundle = '';
      await auto.tick();
      assert.deepEqual(state.secret.content, filled, 'the same CA, key and serving pair');
      assert.equal(state.bundle, filled.caBundle);
      assert.deepEqual(served, [filled.cert], 'nothing new to serve');
    } finally {
      await auto.close();
    }
  });
});
