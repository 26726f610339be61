import { Inject, Injectable, Logger, type OnApplicationBootstrap, type BeforeApplicationShutdown } from '@nestjs/common';
import { Broker } from '../../core';

/**
 * Starts the broker's listeners once the application is assembled, and shuts it down with the
 * application. The provider factory only constructs; binding happens here.
 */
@Injectable()
export class BrokerLifecycle implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('nestmq');

  constructor(@Inject(Broker) private readonly broker: Broker) {}

  async onApplicationBootstrap(): Promise<void> {
    this.broker.on('warning', (err) => this.logger.warn(err.message));
    await this.broker.start();
    const config = this.broker.config;
    for (const [name, a] of Object.entries(this.broker.addresses)) {
      const l = config.listeners.find((x) => x.name === name)!;
      const scheme = l.type === 'ws' ? (l.ssl ? 'wss' : 'ws') : l.ssl ? 'mqtts' : 'mqtt';
      const host = a.host.includes(':') ? `[${a.host}]` : a.host;
      // The source shows a listener a mistyped NESTMQ_LISTENERS__X variable added.
      const from = config.listenerSources[name] ?? 'configuration';
      this.logger.log(`listener ${name} bound to ${scheme}://${host}:${a.port}${l.type === 'ws' ? '/mqtt' : ''} (from ${from})`);
    }
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.broker.shutdown();
  }
}
