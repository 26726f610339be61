import { Module } from '@nestjs/common';
import type { BrokerPlugin } from '../../core';
import { BROKER_PLUGINS } from '../tokens';

/**
 * Authentication and authorization plugins, in order. `allow-anonymous` is applied by the core
 * when no plugin decides; named plugins from `auth.plugins` are added here as they are built.
 */
@Module({
  providers: [{ provide: BROKER_PLUGINS, useFactory: (): BrokerPlugin[] => [] }],
  exports: [BROKER_PLUGINS],
})
export class AuthModule {}
