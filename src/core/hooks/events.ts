/**
 * Broker events for embedders: hbmqtt's event set (broker_pre/post_start, broker_pre/post_shutdown,
 * broker_client_connected/disconnected/subscribed/unsubscribed, broker_message_received) under
 * camelCase names.
 */
import type { QoS } from '../protocol/packets';
import type { ClientInfo } from './types';

export interface ClientConnectedEvent extends ClientInfo {
  readonly cleanSession: boolean;
  readonly sessionPresent: boolean;
  readonly keepalive: number;
  readonly protocolLevel: number;
}

export interface ClientDisconnectedEvent extends ClientInfo {
  /** 'disconnect' (clean DISCONNECT), 'closed' (socket ended), 'keepalive', 'protocol-error', 'takeover', 'shutdown', 'admin' */
  readonly reason: string;
  readonly willPublished: boolean;
}

export interface SubscribedEvent extends ClientInfo {
  readonly filter: string;
  readonly qos: QoS;
}

export interface UnsubscribedEvent extends ClientInfo {
  readonly filter: string;
}

export interface MessageReceivedEvent {
  /** Publisher client id ('' for messages the broker itself publishes). */
  readonly clientId: string;
  readonly topic: string;
  readonly payload: Buffer;
  readonly qos: QoS;
  readonly retain: boolean;
}

export interface BrokerEvents {
  starting: [];
  started: [];
  stopping: [];
  stopped: [];
  clientConnected: [ClientConnectedEvent];
  clientDisconnected: [ClientDisconnectedEvent];
  clientSubscribed: [SubscribedEvent];
  clientUnsubscribed: [UnsubscribedEvent];
  messageReceived: [MessageReceivedEvent];
  /** A listener failed after start, a plugin threw: reported, never fatal. */
  warning: [Error];
}
