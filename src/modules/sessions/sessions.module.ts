import { Module } from '@nestjs/common';
import type { Stores } from '../../core';
import { PersistenceModule } from '../persistence/persistence.module';
import { SESSION_STORE, STORES } from '../tokens';

/** The session store (client sessions: subscriptions, in-flight and queued messages) of the configured backend. */
@Module({
  imports: [PersistenceModule],
  providers: [{ provide: SESSION_STORE, inject: [STORES], useFactory: (stores: Stores) => stores.sessions }],
  exports: [SESSION_STORE],
})
export class SessionsModule {}
