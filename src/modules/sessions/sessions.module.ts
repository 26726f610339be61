import { Module } from '@nestjs/common';
import { type BrokerConfig, createStores, type Stores } from '../../core';
import { BROKER_CONFIG, SESSION_STORE, STORES } from '../tokens';

/**
 * The state backends chosen by `persistence.backend` (memory or SQLite; one database serves
 * sessions and retained messages), and the session store among them.
 */
@Module({
  providers: [
    { provide: STORES, inject: [BROKER_CONFIG], useFactory: (config: BrokerConfig): Stores => createStores(config.persistence) },
    { provide: SESSION_STORE, inject: [STORES], useFactory: (stores: Stores) => stores.sessions },
  ],
  exports: [STORES, SESSION_STORE],
})
export class SessionsModule {}
