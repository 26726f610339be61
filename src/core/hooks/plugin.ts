/**
 * The typed plugin API. A plugin implements any subset of the optional methods; the registry
 * compiles the implemented ones into per-hook arrays once at start, and the packet path checks
 * for `null` (no plugin implements the hook) before doing anything [STYLE 6].
 *
 * Results may be plain values or promises. A throwing or rejecting plugin denies and is logged;
 * it never crashes the broker.
 */
import type { QoS } from '../protocol/packets';
import type { BrokerEvents } from './events';
import type { ClientInfo, SubscriberInfo } from './types';

export type { ClientInfo, SubscriberInfo } from './types';


export interface AuthenticateRequest extends ClientInfo {
  readonly password: Buffer | null;
  /** TLS client certificate subject CN, when one was presented and verified. */
  readonly certificateCommonName?: string;
}

/**
 * - `true` / `{ ok: true }`: accept (the username may be replaced, e.g. from a certificate).
 * - `false` / `{ ok: false, returnCode }`: refuse with CONNACK 4 (bad credentials) or 5 (not authorized).
 * - `undefined`: no opinion, ask the next plugin.
 */
export type AuthenticateResult =
  | boolean
  | undefined
  | { ok: true; username?: string }
  | { ok: false; returnCode?: 4 | 5; reason?: string };

export type Awaitable<T> = T | Promise<T>;

/** Handlers for the broker events (hbmqtt's `on_broker_*` plugin methods), by event name. */
export type BrokerEventHandlers = { [K in keyof BrokerEvents]?: (...args: BrokerEvents[K]) => void | Promise<void> };

export interface BrokerPlugin {
  readonly name?: string;
  authenticate?(request: AuthenticateRequest): Awaitable<AuthenticateResult>;
  /** false denies: the message is acknowledged per its QoS and dropped (3.1.1 has no negative ack). */
  authorizePublish?(client: ClientInfo, topic: string, qos: QoS, retain: boolean): Awaitable<boolean | undefined>;
  /** Returns the QoS to grant (may be lower), false to refuse (SUBACK 0x80), or undefined for no opinion. */
  authorizeSubscribe?(client: ClientInfo, filter: string, qos: QoS): Awaitable<boolean | QoS | undefined>;
  /**
   * Per delivery: may this subscriber read a message on `topic`? Synchronous only (it runs for
   * every message to every matching subscriber, also for retained messages and when a queued
   * message is sent): false drops the message for this subscriber only, undefined is no opinion.
   * This is how a wildcard subscription receives only what its subscriber may read.
   */
  authorizeDelivery?(client: SubscriberInfo, topic: string): boolean | undefined;
  /** Re-read whatever the plugin loads from files (Broker.reloadAuth, SIGHUP); reject to keep the old state. */
  reload?(): Awaitable<void>;
  /**
   * Broker events delivered to the plugin (hbmqtt's event set: starting, started, stopping,
   * stopped, clientConnected, clientDisconnected, clientSubscribed, clientUnsubscribed,
   * messageReceived, warning). A handler that throws or rejects is reported as a `warning`.
   */
  readonly events?: BrokerEventHandlers;
}
