import { Module } from '@nestjs/common';
import { type Stores, SubscriptionTrie } from '../../core';
import { PersistenceModule } from '../persistence/persistence.module';
import { RETAINED_STORE, STORES } from '../tokens';

/**
 * Topic routing state: the subscription trie the engine matches every publish against (empty;
 * the engine refills it from the stored sessions at start) and the retained-message store of the
 * configured backend.
 */
@Module({
  imports: [PersistenceModule],
  providers: [
    { provide: SubscriptionTrie, useFactory: () => new SubscriptionTrie() },
    { provide: RETAINED_STORE, inject: [STORES], useFactory: (stores: Stores) => stores.retained },
  ],
  exports: [SubscriptionTrie, RETAINED_STORE],
})
export class TopicsModule {}
