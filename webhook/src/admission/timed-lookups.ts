/**
 * The image command lookup the pipeline calls, timed into the registry lookup histogram: the
 * wiring puts it around whatever lookup the configuration built (docs/webhook.md, metrics).
 */
import type { Metrics } from '../metrics.ts';
import type { PipelineDeps } from './pipeline.ts';

type Images = PipelineDeps['images'];

/** `images` with every lookup timed into vault_inject_registry_lookup_duration_seconds. */
export function timedLookups(
  images: Images,
  metrics: Pick<Metrics, 'registryLookupDuration'>,
): Images {
  return {
    lookup: async (request, signal) => {
      const end = metrics.registryLookupDuration.startTimer();
      try {
        const found = await images.lookup(request, signal);
        end({ result: 'found' });
        return found;
      } catch (err) {
        end({ result: 'failed' });
        throw err;
      }
    },
  };
}
