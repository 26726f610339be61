import { Module } from '@nestjs/common';
import { ListenerFactory } from '../../core';

/**
 * The MQTT listeners (TCP, TLS, WS, WSS), as the factory the Broker makes them with at start():
 * a Listener hands its connections to the Broker's engine, so it cannot be built before the
 * Broker; which listeners exist is `config.listeners`.
 */
@Module({
  providers: [{ provide: ListenerFactory, useFactory: () => new ListenerFactory() }],
  exports: [ListenerFactory],
})
export class ListenersModule {}
