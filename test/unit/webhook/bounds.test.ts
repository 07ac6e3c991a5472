// The work one review may cost is bounded: the parser stops at the first reference over a bound,
// and a value or a pod over the bounds is denied naming where it passed them. One value with 80,000 inline
// references blocked the event loop for 15 s, a Secret used through envFrom for 5.9 s.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  MAX_REFERENCES_PER_POD,
  MAX_REFERENCES_PER_VALUE,
  Slicer,
} from '../../../webhook/src/mutation/bounds.ts';
import { detect } from '../../../webhook/src/mutation/detect.ts';
import type { Pod } from '../../../webhook/src/mutation/types.ts';
import { fakeReader, harness, podReview, postReview, type Cluster } from './helpers.ts';

const inline = (n: number): string => 'x${vault:secret/data/a#k}'.repeat(n);

function podOf(env: { name: string; value?: string }[], envFrom?: unknown[]): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'p', namespace: 'apps' },
    spec: {
      containers: [
        { name: 'app', image: 'a', command: ['/a'], env, ...(envFrom ? { envFrom } : {}) },
      ],
    },
  } as Pod;
}

async function review(pod: Pod, cluster?: Cluster) {
  const h = harness({}, cluster && fakeReader(cluster));
  const res = await postReview(h, podReview(pod, { namespace: 'apps' }));
  const { response } = res.json();
  return { allowed: response.allowed as boolean, message: response.status?.message as string };
}

describe('references per value and per pod', () => {
  it('a value over the bound is denied naming container and variable', async () => {
    const r = await review(podOf([{ name: 'BIG', value: inline(80_000) }]));
    assert.equal(r.allowed, false);
    assert.equal(
      r.message,
      `container "app", env BIG: holds more than ${MAX_REFERENCES_PER_VALUE} references, the most one value may hold`,
    );
  });

  it('a value at the bound is admitted', async () => {
    const r = await review(podOf([{ name: 'OK', value: inline(MAX_REFERENCES_PER_VALUE) }]));
    assert.equal(r.allowed, true, r.message);
  });

  it('a pod over the bound is denied naming where it passed it', async () => {
    const per = MAX_REFERENCES_PER_VALUE;
    const env = Array.from({ length: MAX_REFERENCES_PER_POD / per + 1 }, (_, i) => ({
      name: `V${i}`,
      value: inline(per),
    }));
    const r = await review(podOf(env));
    assert.equal(r.allowed, false);
    assert.equal(
      r.message,
      `the pod holds more than ${MAX_REFERENCES_PER_POD} references, the most one pod may hold (passed at container "app", env V${env.length - 1})`,
    );
    const under = await review(podOf(env.slice(1)));
    assert.equal(under.allowed, true, under.message);
  });

  it('a Secret through envFrom: a value over the bound is denied without parsing it', async () => {
    const cluster: Cluster = {
      secrets: { 'apps/big': { BIG: inline(80_000), SMALL: 'vault:s#k' } },
      configmaps: {},
    };
    const r = await review(podOf([], [{ secretRef: { name: 'big' } }]), cluster);
    assert.equal(r.allowed, false);
    assert.equal(
      r.message,
      `container "app", env BIG (envFrom secret "big"): holds more than ${MAX_REFERENCES_PER_VALUE} references, the most one value may hold`,
    );
  });

  it('detection stops once the review is abandoned (its deadline passed)', async () => {
    const pod = podOf([{ name: 'A', value: 'vault:s#k' }]);
    await assert.rejects(detect(pod, new Map(), AbortSignal.abort()), { name: 'AbortError' });
  });
});

describe('long work gives the event loop a turn', () => {
  const busy = (ms: number): void => {
    const end = performance.now() + ms;
    while (performance.now() < end);
  };

  it('a tick after a used-up slice lets pending callbacks run first', async () => {
    const slicer = new Slicer();
    busy(20);
    const ran: string[] = [];
    setImmediate(() => ran.push('other work'));
    await slicer.tick(); // the slice is used up: the other work runs before it returns
    ran.push('after the tick');
    assert.deepEqual(ran, ['other work', 'after the tick']);
  });

  it('an abandoned review stops at the next tick', async () => {
    const controller = new AbortController();
    const slicer = new Slicer(controller.signal);
    await slicer.tick();
    controller.abort();
    await assert.rejects(slicer.tick(), { name: 'AbortError' });
  });
});
