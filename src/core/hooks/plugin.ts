/**
 * The typed plugin API. A plugin implements any subset of the optional methods; the registry
 * compiles the implemented ones into per-hook arrays once at start, and the packet path checks
 * for `null` (no plugin implements the hook) before doing anything [STYLE 6].
 *
 * Results may be plain values or promises. A throwing or rejecting plugin denies and is logged;
 * it never crashes the broker.
 */
import type { QoS } from '../protocol/packets';
import type { ReasonCode } from '../protocol/reason-codes';
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
 * - `false` / `{ ok: false }`: refuse as bad user name or password (CONNACK 0x86; 3.1.1: 4).
 * - `{ ok: false, returnCode: 4 | 5 }`: the 3.1.1 return code, taken as 0x86 Bad user name or
 *   password / 0x87 Not authorized.
 * - `{ ok: false, reasonCode }`: any failure Reason Code CONNACK may carry (0x86, 0x87,
 *   0x88 Server unavailable, 0x89 Server busy, 0x8A Banned, ...). A 3.1.1 client gets the return
 *   code it folds into (toV3ConnackReturnCode: 0x88 and 0x89 -> 3, 0x8A -> 5), or no CONNACK for a
 *   code that reports a fault in the CONNECT itself (0x81, 0x82, 0x90, 0x95, 0x99-0x9B). Any
 *   other value refuses as 0x87. `reasonCode` wins over `returnCode` when both are given.
 * - `undefined`: no opinion, ask the next plugin.
 */
export type AuthenticateResult =
  | boolean
  | undefined
  | { ok: true; username?: string }
  | { ok: false; returnCode?: 4 | 5; reasonCode?: ReasonCode; reason?: string };

export type Awaitable<T> = T | Promise<T>;

/** Handlers for the broker events (hbmqtt's `on_broker_*` plugin methods), by event name. */
export type BrokerEventHandlers = { [K in keyof BrokerEvents]?: (...args: BrokerEvents[K]) => void | Promise<void> };

export interface BrokerPlugin {
  readonly name?: string;
  /**
   * `authenticate` answers synchronously and does no costly work (no password hash, no I/O), as
   * auth.anonymous: when every authenticator says so, CONNECTs skip the AuthGate's bounds on
   * pending verifications (limits.max-pending-auth*), which exist for costly ones.
   */
  readonly cheapAuthentication?: boolean;
  authenticate?(request: AuthenticateRequest): Awaitable<AuthenticateResult>;
  /**
   * true (or ReasonCode.Success) allows; false (0x87 Not authorized) or a failure Reason Code
   * a PUBACK may carry (0x87, 0x97 Quota exceeded, 0x80, ...) denies: the message is acknowledged
   * per its QoS and dropped (3.1.1 has no negative ack); undefined is no opinion.
   */
  authorizePublish?(client: ClientInfo, topic: string, qos: QoS, retain: boolean): Awaitable<boolean | ReasonCode | undefined>;
  /**
   * Returns the QoS to grant (may be lower; GrantedQoS0..2 are the same numbers), true for the
   * QoS asked, false (0x87) or a failure Reason Code a SUBACK may carry (0x87, 0x97 Quota
   * exceeded, ...) to refuse (3.1.1: SUBACK 0x80), or undefined for no opinion.
   */
  authorizeSubscribe?(client: ClientInfo, filter: string, qos: QoS): Awaitable<boolean | QoS | ReasonCode | undefined>;
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
