import type { ClusterConfig, PersistenceConfig } from '../config/types';
import { createMemoryStores } from './memory';
import type { Stores } from './store';

/**
 * The stores a config asks for. A clustered node (config `cluster`) always keeps its sessions and
 * retained messages in the cluster's Redis (docs/cluster.md "Sessions in Redis"): same URL and key
 * prefix as the leases, whose tokens fence its writes; sessions are read at CONNECT.
 */
export function createStores(persistence: PersistenceConfig, cluster: ClusterConfig | null = null): Stores {
  if (cluster !== null) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const redis = require('./redis') as typeof import('./redis');
    return redis.createRedisStores({ ...redis.redisOptionsFrom(persistence, cluster.redis), prefix: cluster.prefix, nodeId: cluster.nodeId, loadOnConnect: true, indexSessions: true });
  }
  if (persistence.backend === 'sqlite') {
    // Required lazily: the SQLite module loads a native addon.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return (require('./sqlite') as typeof import('./sqlite')).createSqliteStores(persistence);
  }
  if (persistence.backend === 'redis') {
    // Required lazily too: a broker without Redis never loads ioredis.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const redis = require('./redis') as typeof import('./redis');
    return redis.createRedisStores(redis.redisOptionsFrom(persistence));
  }
  return createMemoryStores();
}
