import { Module } from '@nestjs/common';
import { MemoryRetainedStore } from '../../core';
import { RETAINED_STORE } from '../tokens';

/** The retained-message store backend. */
@Module({
  providers: [{ provide: RETAINED_STORE, useFactory: () => new MemoryRetainedStore() }],
  exports: [RETAINED_STORE],
})
export class TopicsModule {}
