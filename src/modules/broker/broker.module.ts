import { Module } from '@nestjs/common';
import {
  Broker,
  type BrokerConfig,
  ConfiguredPlugins,
  ListenerFactory,
  type RetainedStore,
  type SessionStore,
  SubscriptionTrie,
} from '../../core';
import type { Session } from '../../core/sessions/session';
import { AuthModule } from '../auth/auth.module';
import { ListenersModule } from '../listeners/listeners.module';
import { SessionsModule } from '../sessions/sessions.module';
import { TopicsModule } from '../topics/topics.module';
import { BROKER_CONFIG, RETAINED_STORE, SESSION_STORE } from '../tokens';
import { BrokerLifecycle } from './broker.lifecycle';

/**
 * The core Broker, assembled from what the feature modules provide (the same instances: nothing
 * is built twice), started once the application is assembled and shut down with it. Exports the
 * Broker for the admin surface and the logging.
 */
@Module({
  imports: [SessionsModule, TopicsModule, AuthModule, ListenersModule],
  providers: [
    {
      provide: Broker,
      inject: [BROKER_CONFIG, SESSION_STORE, RETAINED_STORE, SubscriptionTrie, ConfiguredPlugins, ListenerFactory],
      useFactory: (
        config: BrokerConfig,
        sessions: SessionStore,
        retained: RetainedStore,
        subscriptions: SubscriptionTrie<Session>,
        configuredPlugins: ConfiguredPlugins,
        listenerFactory: ListenerFactory,
      ) => new Broker(config, { stores: { sessions, retained }, subscriptions, configuredPlugins, listenerFactory }),
    },
    BrokerLifecycle,
  ],
  exports: [Broker],
})
export class BrokerModule {}
