import { Module } from '@nestjs/common';
import {
  Broker,
  type BrokerConfig,
  ConfiguredPlugins,
  ListenerFactory,
  type RetainedStore,
  type SessionStore,
  type Stores,
  SubscriptionTrie,
} from '../../core';
import type { Session } from '../../core/sessions/session';
import { AuthModule } from '../auth/auth.module';
import { ListenersModule } from '../listeners/listeners.module';
import { PersistenceModule } from '../persistence/persistence.module';
import { SessionsModule } from '../sessions/sessions.module';
import { TopicsModule } from '../topics/topics.module';
import { BROKER_CONFIG, RETAINED_STORE, SESSION_STORE, STORES } from '../tokens';
import { BrokerLifecycle } from './broker.lifecycle';

/**
 * The core Broker, assembled from what the feature modules provide (the same instances: nothing
 * is built twice), started once the application is assembled and shut down with it. Exports the
 * Broker for the admin surface and the logging.
 */
@Module({
  imports: [PersistenceModule, SessionsModule, TopicsModule, AuthModule, ListenersModule],
  providers: [
    {
      provide: Broker,
      inject: [BROKER_CONFIG, STORES, SESSION_STORE, RETAINED_STORE, SubscriptionTrie, ConfiguredPlugins, ListenerFactory],
      // The stores as SessionsModule and TopicsModule provide them; the backend's counters from PersistenceModule.
      useFactory: (
        config: BrokerConfig,
        backend: Stores,
        sessions: SessionStore,
        retained: RetainedStore,
        subscriptions: SubscriptionTrie<Session>,
        configuredPlugins: ConfiguredPlugins,
        listenerFactory: ListenerFactory,
      ) => new Broker(config, { stores: { sessions, retained, counters: backend.counters }, subscriptions, configuredPlugins, listenerFactory }),
    },
    BrokerLifecycle,
  ],
  exports: [Broker],
})
export class BrokerModule {}
