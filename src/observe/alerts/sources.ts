// The callbacks the L2 and shedding alerts read, built from headroom's own cache and admission
// controller (the gateway and createHeadroom-style assemblies use these; any other app passes its own).
import type { AdmissionStats } from '../../admission/types.js';
import type { CacheStats } from '../../cache/types.js';

/** Usable = connected and not skipped by the cache's circuit breaker; null when the cache has no L2. */
export function l2AvailableFrom(cache: { stats(): Pick<CacheStats, 'l2'> }): () => boolean | null {
  return () => {
    const l2 = cache.stats().l2;
    return l2 ? l2.connected && !l2.breakerOpen : null;
  };
}

/** Responses shed at critical plus requests refused by the memory breaker, a full queue or a queue timeout (not draining). */
export function shedCountFrom(admission: { stats(): Pick<AdmissionStats, 'shed' | 'rejected'> }): () => number {
  return () => {
    const a = admission.stats();
    return a.shed + a.rejected.memory + a.rejected.concurrency + a.rejected.queueTimeout;
  };
}
