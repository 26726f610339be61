import { Module } from '@nestjs/common';
import { Broker, type BrokerConfig, type BrokerPlugin, type RetainedStore, type SessionStore } from '../../core';
import { AuthModule } from '../auth/auth.module';
import { SessionsModule } from '../sessions/sessions.module';
import { TopicsModule } from '../topics/topics.module';
import { BROKER_CONFIG, BROKER_PLUGINS, RETAINED_STORE, SESSION_STORE } from '../tokens';
import { BrokerLifecycle } from './broker.lifecycle';

/**
 * Assembles the core Broker from the injected config, stores and plugins, and owns its
 * listeners' lifecycle. Exports the Broker for admin surfaces.
 */
@Module({
  imports: [SessionsModule, TopicsModule, AuthModule],
  providers: [
    {
      provide: Broker,
      inject: [BROKER_CONFIG, SESSION_STORE, RETAINED_STORE, BROKER_PLUGINS],
      useFactory: (config: BrokerConfig, sessions: SessionStore, retained: RetainedStore, plugins: BrokerPlugin[]) =>
        new Broker(config, { stores: { sessions, retained }, plugins }),
    },
    BrokerLifecycle,
  ],
  exports: [Broker],
})
export class ListenersModule {}
