import { Module } from '@nestjs/common';
import type { Stores } from '../../core';
import { SessionsModule } from '../sessions/sessions.module';
import { RETAINED_STORE, STORES } from '../tokens';

/** The retained-message store, from the same backend as the sessions. */
@Module({
  imports: [SessionsModule],
  providers: [{ provide: RETAINED_STORE, inject: [STORES], useFactory: (stores: Stores) => stores.retained }],
  exports: [RETAINED_STORE],
})
export class TopicsModule {}
