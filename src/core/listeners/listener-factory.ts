import type { ListenerConfig } from '../config/types';
import type { Engine } from '../engine';
import { Listener } from './listener';

/**
 * Makes the Listener of one configured listener. The Broker calls create() once per entry of
 * `config.listeners` in start(): a Listener feeds its connections to the Broker's engine, so it
 * cannot exist before the Broker does. The Nest ListenersModule provides the instance a Broker
 * uses; `new Broker(config)` makes its own.
 */
export class ListenerFactory {
  create(config: ListenerConfig, engine: Engine): Listener {
    return new Listener(config, engine);
  }
}
