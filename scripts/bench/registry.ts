/**
 * Image config lookup latency against a local registry (distribution 2.8 on loopback, TLS,
 * htpasswd; and the Bearer flow with a JWT token service): cold (a new lookup object: new
 * connections, challenge, token, manifest, config) and cached (answered from memory), plus a
 * multi-arch index and a burst of 50 identical concurrent lookups.
 *
 *   node scripts/bench/registry.ts [--rounds N]
 */
import { startRegistry, type RegistryAuth } from '../../test/env/registry.ts';
import { ImageConfigLookup, parseDockerConfigJson } from '../../webhook/src/registry/oci/index.ts';

const roundsArg = process.argv.indexOf('--rounds');
const rounds = roundsArg !== -1 ? Number(process.argv[roundsArg + 1]) : 30;

function stats(samples: number[]): string {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number): number =>
    sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
  const fmt = (ms: number): string =>
    ms < 1 ? `${(ms * 1000).toFixed(1)} µs` : `${ms.toFixed(2)} ms`;
  return `p50 ${fmt(at(0.5))}  p90 ${fmt(at(0.9))}  max ${fmt(sorted[sorted.length - 1] ?? NaN)}  (n=${sorted.length})`;
}

async function bench(auth: RegistryAuth): Promise<void> {
  const registry = await startRegistry({ auth });
  try {
    await registry.pushImage('bench/app', 'v1', { entrypoint: ['/app'], cmd: ['serve'] });
    await registry.pushIndex('bench/multi', 'v1', [
      { architecture: 'amd64', entrypoint: ['/a'] },
      { architecture: 'arm64', variant: 'v8', entrypoint: ['/b'] },
    ]);
    const credentials = parseDockerConfigJson(
      'bench',
      JSON.stringify({
        auths: {
          [registry.host]: { username: registry.admin.username, password: registry.admin.password },
        },
      }),
    );
    const options = {
      hosts: { [registry.host]: { ca: registry.ca } },
      defaultCredentials: [credentials],
    };
    const measure = async (image: string) => {
      const cold: number[] = [];
      const cached: number[] = [];
      for (let i = 0; i < rounds; i += 1) {
        const lookup = new ImageConfigLookup(options);
        let t = performance.now();
        await lookup.resolveCommand({ image });
        cold.push(performance.now() - t);
        for (let j = 0; j < 20; j += 1) {
          t = performance.now();
          await lookup.resolveCommand({ image });
          cached.push(performance.now() - t);
        }
        lookup.close();
      }
      return { cold, cached };
    };
    const single = await measure(`${registry.host}/bench/app:v1`);
    const multi = await measure(`${registry.host}/bench/multi:v1`);
    console.log(`registry auth=${auth}`);
    console.log(`  single-arch cold    ${stats(single.cold)}`);
    console.log(`  single-arch cached  ${stats(single.cached)}`);
    console.log(`  multi-arch  cold    ${stats(multi.cold)}`);
    console.log(`  multi-arch  cached  ${stats(multi.cached)}`);

    const lookup = new ImageConfigLookup(options);
    const before = await registry.countRequests({
      method: 'GET',
      uriIncludes: '/bench/app/manifests/',
    });
    const t = performance.now();
    await Promise.all(
      Array.from({ length: 50 }, () =>
        lookup.resolveCommand({ image: `${registry.host}/bench/app:v1` }),
      ),
    );
    const burst = performance.now() - t;
    const after = await registry.countRequests({
      method: 'GET',
      uriIncludes: '/bench/app/manifests/',
    });
    console.log(
      `  50 concurrent identical cold lookups: ${burst.toFixed(2)} ms, manifest GETs at the registry: ${after - before}`,
    );
    lookup.close();
  } finally {
    await registry.stop();
  }
}

await bench('htpasswd');
await bench('token');
