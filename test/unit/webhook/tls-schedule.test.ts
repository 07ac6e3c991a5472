// The `auto` rotation schedule: one table of Secret states and the step each one leads to, then a
// whole CA rotation walked through with real certificates and a fake clock.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  nextStep,
  policyProblem,
  renewAt,
  type RotationPolicy,
  type SecretView,
  type Step,
} from '../../../webhook/src/tls/auto/schedule.ts';
import { EMPTY, applyStep, parseContent } from '../../../webhook/src/tls/auto/state.ts';
import { certFacts, splitPem } from '../../../webhook/src/tls/authority.ts';

const S = 1000;
const policy: RotationPolicy = {
  servingValidityMs: 90 * S,
  caValidityMs: 300 * S,
  overlapMs: 10 * S,
};
const NOW = 1_000_000 * S;

const ca1 = { notAfter: NOW + 250 * S, fingerprint: 'CA1' };
const ca2 = { notAfter: NOW + 300 * S, fingerprint: 'CA2' };
const serving = (over: Partial<SecretView['serving'] & object> = {}): SecretView['serving'] => ({
  notAfter: NOW + 80 * S,
  fingerprint: 'S1',
  keyMatches: true,
  coversNames: true,
  issuer: 'CA1',
  ...over,
});
const view = (over: Partial<SecretView> = {}): SecretView => ({
  trusted: [ca1],
  signer: ca1,
  serving: serving(),
  caAddedAt: NOW - 50 * S,
  servingIssuedAt: NOW - 10 * S,
  ...over,
});

describe('rotation schedule', () => {
  const table: [string, SecretView, Step['kind'], number?][] = [
    [
      'an empty Secret',
      { ...view(), trusted: [], signer: undefined, serving: undefined },
      'create',
    ],
    [
      'an expired serving certificate, no CA key',
      view({ signer: undefined, serving: serving({ notAfter: NOW - 1 }) }),
      'create',
    ],
    [
      'a good certificate from a CA without key (made by helm)',
      view({ signer: undefined }),
      'add-ca',
    ],
    [
      'up to date: wait until the serving certificate is two thirds through',
      view(),
      'wait',
      NOW + 50 * S,
    ],
    [
      'the serving certificate is two thirds through',
      view({ serving: serving({ notAfter: NOW + 30 * S }) }),
      'issue-serving',
    ],
    [
      'the serving key does not match',
      view({ serving: serving({ keyMatches: false }) }),
      'issue-serving',
    ],
    [
      'a serving certificate longer than the policy (made by `vault-inject certs`)',
      view({ serving: serving({ notAfter: NOW + 365 * 86400 * S }) }),
      'issue-serving',
    ],
    [
      'a CA longer than the policy',
      view({
        trusted: [{ ...ca1, notAfter: NOW + 3650 * 86400 * S }],
        signer: { ...ca1, notAfter: NOW + 3650 * 86400 * S },
      }),
      'add-ca',
    ],
    ['the names changed', view({ serving: serving({ coversNames: false }) }), 'issue-serving'],
    ['signed by no trusted CA', view({ serving: serving({ issuer: undefined }) }), 'issue-serving'],
    [
      'the CA is two thirds through',
      view({ signer: { ...ca1, notAfter: NOW + 100 * S } }),
      'add-ca',
    ],
    [
      'a new CA not yet out for the overlap: keep serving from the old one',
      view({ trusted: [ca2, ca1], signer: ca2, caAddedAt: NOW - 4 * S }),
      'wait',
      NOW + 6 * S,
    ],
    [
      'the new CA has been out for the overlap',
      view({ trusted: [ca2, ca1], signer: ca2, caAddedAt: NOW - 10 * S }),
      'issue-serving',
    ],
    [
      'serving from the new CA, not yet for the overlap: the old CA stays',
      view({
        trusted: [ca2, ca1],
        signer: ca2,
        serving: serving({ issuer: 'CA2' }),
        servingIssuedAt: NOW - 3 * S,
      }),
      'wait',
      NOW + 7 * S,
    ],
    [
      'serving from the new CA for the overlap: the old CA goes',
      view({
        trusted: [ca2, ca1],
        signer: ca2,
        serving: serving({ issuer: 'CA2' }),
        servingIssuedAt: NOW - 10 * S,
      }),
      'drop-old-cas',
    ],
    [
      'no annotations: the times count as long ago',
      view({ trusted: [ca2, ca1], signer: ca2, caAddedAt: undefined }),
      'issue-serving',
    ],
  ];
  for (const [name, v, kind, at] of table) {
    it(name, () => {
      const step = nextStep(v, policy, NOW);
      assert.equal(step.kind, kind, step.reason);
      if (at !== undefined) assert.equal(step.kind === 'wait' ? step.at : undefined, at);
    });
  }

  it('renews at two thirds of the lifetime', () => {
    assert.equal(renewAt(NOW + 90 * S, 90 * S), NOW + 60 * S);
  });

  it('rejects policies whose rotations would overlap', () => {
    assert.equal(policyProblem(policy), undefined);
    assert.match(policyProblem({ ...policy, caValidityMs: 200 * S }) ?? '', /three times/);
    assert.match(policyProblem({ ...policy, overlapMs: 30 * S }) ?? '', /overlap/);
    assert.match(policyProblem({ ...policy, servingValidityMs: 0 }) ?? '', /more than 0/);
  });
});

describe('a CA rotation with real certificates and a fake clock', () => {
  it('trusts old and new CA before serving from the new one, and never serves an untrusted certificate', async () => {
    const names = { dnsNames: ['svc', 'svc.ns.svc'], ips: ['127.0.0.1'] };
    let content = EMPTY;
    let now = Date.now();
    const seen: string[] = [];
    // Two CA lifetimes, in one-second ticks.
    for (let t = 0; t < 620; t++, now += S) {
      const { view: v } = parseContent(content, names);
      const step = nextStep(v, policy, now);
      if (step.kind !== 'wait') {
        seen.push(step.kind);
        const before = content;
        content = await applyStep(step, content, { names, policy, now });
        // What was served before the step is trusted after it (no failed handshake).
        const served = certFacts(before.cert);
        if (served) {
          const trusted = splitPem(content.caBundle).map((p) => certFacts(p));
          assert.ok(
            trusted.some((ca) => ca && served.x509.checkIssued(ca.x509)),
            `after ${step.kind} at t=${t}: the certificate served until now is not trusted`,
          );
        }
      }
      const served = certFacts(content.cert);
      assert.ok(served && served.notAfter > now, `t=${t}: an expired certificate is served`);
      const after = parseContent(content, names).view;
      assert.ok(
        after.serving?.issuer,
        `t=${t}: the served certificate is not signed by a trusted CA`,
      );
    }
    assert.equal(seen[0], 'create');
    // add-ca is always followed by issue-serving then drop-old-cas, in this order.
    const i = seen.indexOf('add-ca');
    assert.ok(i > 0, `a CA rotation happened: ${seen.join(' ')}`);
    assert.deepEqual(seen.slice(i, i + 3), ['add-ca', 'issue-serving', 'drop-old-cas']);
    assert.ok(seen.filter((s) => s === 'issue-serving').length >= 6);
  });
});
