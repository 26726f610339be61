import { type DynamicModule, Module } from '@nestjs/common';
import { type BrokerConfig, loadConfigFile, validateConfig } from './core';
import { AdminModule } from './modules/admin/admin.module';
import { BrokerConfigModule, type BrokerConfigSource } from './modules/config/broker-config.module';
import { ListenersModule } from './modules/listeners/listeners.module';
import { LoggingModule, type LoggingOptions } from './modules/logging/logging.module';

export interface AppOptions {
  /** Where log lines go (default stdout); tests collect them. */
  logDestination?: LoggingOptions['destination'];
}

/**
 * The nestmq service: configuration, logging, the broker assembled from its feature modules,
 * and the admin HTTP surface (health, metrics, REST API) when `admin.enabled`.
 */
@Module({})
export class AppModule {
  static forRoot(source: BrokerConfigSource = {}, options: AppOptions = {}): DynamicModule {
    // Validated here, once, so that the module list can depend on it (validateConfig returns an
    // already validated config as it is).
    const config: BrokerConfig = source.path !== undefined ? loadConfigFile(source.path) : validateConfig(source.config);
    return {
      module: AppModule,
      imports: [
        BrokerConfigModule.forRoot({ config }),
        LoggingModule.forRoot({ destination: options.logDestination }),
        ListenersModule,
        ...(config.admin.enabled ? [AdminModule] : []),
      ],
    };
  }
}
