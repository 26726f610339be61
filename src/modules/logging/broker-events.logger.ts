import { Inject, Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import type { Logger } from 'pino';
import {
  Broker,
  type ClientConnectedEvent,
  type ClientDisconnectedEvent,
  type MessageReceivedEvent,
  type SubscribedEvent,
  type UnsubscribedEvent,
} from '../../core';
import { PINO_LOGGER } from './pino';

/**
 * Broker events as log lines: the connection lifecycle at info (client id, username, address,
 * listener; the disconnect reason), subscriptions and routed messages at debug. Passwords never
 * reach events, and payloads are not logged (their size is). The per-message listener is attached
 * only at debug level: the engine builds no event object when nobody listens.
 */
@Injectable()
export class BrokerEventsLogger implements OnModuleInit, OnApplicationShutdown {
  private readonly log: Logger;
  private readonly handlers: [string, (...args: never[]) => void][] = [];

  constructor(
    @Inject(Broker) private readonly broker: Broker,
    @Inject(PINO_LOGGER) root: Logger,
  ) {
    this.log = root.child({ context: 'broker' });
  }

  onModuleInit(): void {
    const log = this.log;
    this.on('clientConnected', (e: ClientConnectedEvent) =>
      log.info(
        {
          event: 'client.connected',
          clientId: e.clientId,
          username: e.username,
          remoteAddress: e.remoteAddress,
          listener: e.listener,
          protocolLevel: e.protocolLevel,
          cleanSession: e.cleanSession,
          sessionPresent: e.sessionPresent,
          keepalive: e.keepalive,
        },
        `client ${e.clientId} connected from ${e.remoteAddress} on ${e.listener}`,
      ),
    );
    this.on('clientDisconnected', (e: ClientDisconnectedEvent) =>
      log.info(
        {
          event: 'client.disconnected',
          clientId: e.clientId,
          username: e.username,
          remoteAddress: e.remoteAddress,
          listener: e.listener,
          reason: e.reason,
          willPublished: e.willPublished,
        },
        `client ${e.clientId} disconnected (${e.reason})`,
      ),
    );
    this.on('stopping', () => log.info({ event: 'broker.stopping' }, 'broker stopping: listeners closed, clients disconnecting'));
    this.on('stopped', () => log.info({ event: 'broker.stopped' }, 'broker stopped'));
    if (log.isLevelEnabled('debug')) {
      this.on('clientSubscribed', (e: SubscribedEvent) =>
        log.debug({ event: 'client.subscribed', clientId: e.clientId, filter: e.filter, qos: e.qos }, `SUBSCRIBE ${e.clientId} ${e.filter} qos ${e.qos}`),
      );
      this.on('clientUnsubscribed', (e: UnsubscribedEvent) =>
        log.debug({ event: 'client.unsubscribed', clientId: e.clientId, filter: e.filter }, `UNSUBSCRIBE ${e.clientId} ${e.filter}`),
      );
      this.on('messageReceived', (e: MessageReceivedEvent) => {
        if (e.clientId === '') return; // the broker's own $SYS updates
        log.debug(
          { event: 'message.received', clientId: e.clientId, topic: e.topic, qos: e.qos, retain: e.retain, bytes: e.payload.length },
          `PUBLISH ${e.clientId} ${e.topic} qos ${e.qos}${e.retain ? ' retain' : ''} (${e.payload.length} bytes)`,
        );
      });
    }
  }

  onApplicationShutdown(): void {
    for (const [event, fn] of this.handlers) this.broker.off(event as 'started', fn as () => void);
    this.handlers.length = 0;
  }

  private on<E>(event: string, fn: (e: E) => void): void {
    this.broker.on(event as 'started', fn as unknown as () => void);
    this.handlers.push([event, fn as (...args: never[]) => void]);
  }
}
