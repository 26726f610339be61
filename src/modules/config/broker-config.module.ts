import { type DynamicModule, Global, Module } from '@nestjs/common';
import { type BrokerConfig, type BrokerConfigInput, loadConfigFile, validateConfig } from '../../core';
import { BROKER_CONFIG } from '../tokens';

export interface BrokerConfigSource {
  /** YAML file (hbmqtt format). */
  path?: string;
  /** Or a config object (validated the same way). */
  config?: BrokerConfigInput | BrokerConfig;
}

/** Reads and validates a config source; an already validated config is returned as it is. */
export function resolveBrokerConfig(source: BrokerConfigSource = {}): BrokerConfig {
  return source.path !== undefined ? loadConfigFile(source.path) : validateConfig(source.config);
}

/**
 * The broker configuration, validated once (the core's YAML loader and validator, when the
 * module is declared) and provided as BROKER_CONFIG: the frozen, typed object every other module
 * builds its part from.
 */
@Global()
@Module({})
export class BrokerConfigModule {
  static forRoot(source: BrokerConfigSource = {}): DynamicModule {
    return {
      module: BrokerConfigModule,
      providers: [{ provide: BROKER_CONFIG, useValue: resolveBrokerConfig(source) }],
      exports: [BROKER_CONFIG],
    };
  }
}
