import type { PersistenceConfig } from '../config/types';
import { createMemoryStores } from './memory';
import type { Stores } from './store';

/** The stores a config asks for. */
export function createStores(persistence: PersistenceConfig): Stores {
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
