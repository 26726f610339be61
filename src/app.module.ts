import { type DynamicModule, Module } from '@nestjs/common';
import { BrokerConfigModule, type BrokerConfigSource } from './modules/config/broker-config.module';
import { ListenersModule } from './modules/listeners/listeners.module';

/** The nestmq service: configuration plus the broker assembled from its feature modules. */
@Module({})
export class AppModule {
  static forRoot(source: BrokerConfigSource = {}): DynamicModule {
    return { module: AppModule, imports: [BrokerConfigModule.forRoot(source), ListenersModule] };
  }
}
