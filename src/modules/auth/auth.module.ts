import { Module } from '@nestjs/common';
import { type BrokerConfig, ConfiguredPlugins } from '../../core';
import { BROKER_CONFIG } from '../tokens';

/**
 * The authentication and authorization plugins the config names (auth.plugins, then
 * topic-check's), built once: the password and ACL files are read here, and a missing or invalid
 * one fails the application's start like a bad config. The Broker puts them first in its chain
 * and takes their warnings (file problems, failed logins, denials): those raised while reading
 * the files are emitted once the broker has started, like an embedded broker's.
 */
@Module({
  providers: [{ provide: ConfiguredPlugins, inject: [BROKER_CONFIG], useFactory: (config: BrokerConfig) => new ConfiguredPlugins(config) }],
  exports: [ConfiguredPlugins],
})
export class AuthModule {}
