import { Module } from '@nestjs/common';
import { type BrokerConfig, createStores, type Stores } from '../../core';
import { BROKER_CONFIG, STORES } from '../tokens';

/**
 * The state backend chosen by `persistence.backend`: in memory, or one SQLite database that
 * serves both the sessions and the retained messages (one group commit). SessionsModule and
 * TopicsModule take their store from it, so the backend is opened once.
 */
@Module({
  providers: [{ provide: STORES, inject: [BROKER_CONFIG], useFactory: (config: BrokerConfig): Stores => createStores(config.persistence, config.cluster) }],
  exports: [STORES],
})
export class PersistenceModule {}
