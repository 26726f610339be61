import { type DynamicModule, Global, Module } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { type BrokerConfig, type BrokerConfigInput, loadConfigFile, validateConfig } from '../../core';
import { BROKER_CONFIG } from '../tokens';

export interface BrokerConfigSource {
  /** YAML file (hbmqtt format). */
  path?: string;
  /** Or a config object (validated the same way). */
  config?: BrokerConfigInput | BrokerConfig;
}

/**
 * Loads the broker configuration once through @nestjs/config (a custom loader over the core's
 * YAML loader and validator) and provides the frozen, typed result as BROKER_CONFIG.
 */
@Global()
@Module({})
export class BrokerConfigModule {
  static forRoot(source: BrokerConfigSource = {}): DynamicModule {
    const load = (): { broker: BrokerConfig } => ({
      broker: source.path !== undefined ? loadConfigFile(source.path) : validateConfig(source.config),
    });
    return {
      module: BrokerConfigModule,
      imports: [ConfigModule.forRoot({ load: [load], ignoreEnvFile: true, isGlobal: false })],
      providers: [
        {
          provide: BROKER_CONFIG,
          inject: [ConfigService],
          useFactory: (config: ConfigService) => config.get<BrokerConfig>('broker', { infer: true }),
        },
      ],
      exports: [BROKER_CONFIG],
    };
  }
}
