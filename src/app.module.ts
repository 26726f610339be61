import { type DynamicModule, Module } from '@nestjs/common';
import { AdminModule } from './modules/admin/admin.module';
import { BrokerModule } from './modules/broker/broker.module';
import { BrokerConfigModule, type BrokerConfigSource, resolveBrokerConfig } from './modules/config/broker-config.module';
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
    // Validated here, once, so that the module list can depend on it; BrokerConfigModule provides
    // this same object (validateConfig returns an already validated config as it is).
    const config = resolveBrokerConfig(source);
    return {
      module: AppModule,
      imports: [
        BrokerConfigModule.forRoot({ config }),
        LoggingModule.forRoot({ destination: options.logDestination }),
        BrokerModule,
        ...(config.admin.enabled ? [AdminModule] : []),
      ],
    };
  }
}
