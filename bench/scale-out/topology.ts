// The Redis a scale-out run shares between its gateways. One entry per topology: what it starts,
// the environment each gateway gets to reach it, and (where the topology has one) a failover the
// bench can trigger. Cluster and Sentinel entries are added with their configuration variables.
import { startRedis } from '../../test/helpers/redis.js';

export interface Topology {
  name: string;
  /** Variables each gateway gets to reach this Redis. */
  env: Record<string, string>;
  /** Promotes a replica (cluster, sentinel); absent where there is nothing to fail over to. */
  failover?: () => Promise<void>;
  stop(): Promise<void>;
}

export const topologies: Record<string, () => Promise<Topology>> = {
  /** One local redis-server. */
  single: async () => {
    const redis = await startRedis();
    return { name: 'single', env: { REDIS_URL: redis.url }, stop: () => redis.stop() };
  },
};
